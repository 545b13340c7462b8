"""What every idiom shares: the seed's log entry, its JSON encodings, a quiet close.

Written the way app code does it: no validation (the idioms are judged on core rules
only), ``json.dumps`` with its defaults, ``time.time()`` for the timestamp.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

__all__ = ["Entry", "entry", "is_gone", "text_of"]

Entry = dict[str, Any]


def entry(task_id: str, level: str, message: str, progress: float | None, finished: bool) -> Entry:
    """The seed's fields, as a FastAPI tutorial builds them."""
    return {
        "task_id": task_id,
        "level": level,
        "message": message,
        "progress": progress,
        "finished": finished,
        "timestamp": datetime.fromtimestamp(time.time(), timezone.utc).isoformat(),
    }


def text_of(item: Entry) -> str:
    return json.dumps(item)


def is_gone(websocket: Any) -> bool:
    """Starlette refuses to close a socket twice; app code checks the state first."""
    return getattr(getattr(websocket, "application_state", None), "name", "") == "DISCONNECTED"
