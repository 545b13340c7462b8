"""The reference ConnectionManager: a synchronous core with a thin anyio layer on top."""

from ._core import Connection, ManagerCore
from ._errors import LoopClosedError, PolicyError, TaskFinishedError, TaskLimitError, TasktailError
from ._manager import ConnectionManager
from ._message import LEVELS, GapNotice, Level, LogMessage
from ._policies import CoalesceProgress, DropOldest, OverflowPolicy, RejectNewest
from ._stats import CloseCode, ManagerStatistics, TaskStatistics
from ._threads import TaskLogHandler, ThreadSafeLogger

__all__ = [
    "CloseCode", "CoalesceProgress", "Connection", "ConnectionManager", "DropOldest", "GapNotice",
    "LEVELS", "Level", "LogMessage", "LoopClosedError", "ManagerCore", "ManagerStatistics",
    "OverflowPolicy", "PolicyError", "RejectNewest", "TaskFinishedError", "TaskLimitError",
    "TaskLogHandler", "TaskStatistics", "TasktailError", "ThreadSafeLogger",
]
