"""tasktail: stream live task logs to browsers over WebSockets, and prove it works."""

from .manager import (
    LEVELS, CloseCode, CoalesceProgress, Connection, ConnectionManager, DropOldest, GapNotice,
    Level, LogMessage, LoopClosedError, ManagerStatistics, OverflowPolicy, PolicyError,
    RejectNewest, TaskFinishedError, TaskLimitError, TaskLogHandler, TaskStatistics,
    TasktailError, ThreadSafeLogger,
)

__version__ = "0.1.0"

__all__ = [
    "CloseCode", "CoalesceProgress", "Connection", "ConnectionManager", "DropOldest", "GapNotice",
    "LEVELS", "Level", "LogMessage", "LoopClosedError", "ManagerStatistics", "OverflowPolicy",
    "PolicyError", "RejectNewest", "TaskFinishedError", "TaskLimitError", "TaskLogHandler",
    "TaskStatistics", "TasktailError", "ThreadSafeLogger",
]
