"""The transcript half of FakeWebSocket: recording events and reading them back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from ._records import CLOSE, Event, Frame, Violation

if TYPE_CHECKING:
    from ._client import FakeClient


def now() -> float | None:
    try:
        return anyio.current_time()
    except RuntimeError:  # recorded outside an event loop (sync test setup)
        return None


class Transcript:
    """Mixin: ``events`` (every :class:`Event`) and ``violations``, plus readers."""

    client: FakeClient

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.violations: list[Violation] = []

    def _record(self, kind: str, **fields: Any) -> None:
        self.events.append(Event(now(), kind, **fields))

    def events_of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    @property
    def frames(self) -> list[Frame]:
        """Frames delivered to the client, in order."""
        return self.client.frames

    def texts(self) -> list[str]:
        """Payloads of the delivered text frames, in order."""
        return self.client.texts()

    def json_frames(self) -> list[Any]:
        """Every delivered text frame, JSON-decoded (a non-JSON text frame raises)."""
        return self.client.json_frames()

    def bytes_frames(self) -> list[bytes]:
        return self.client.bytes_frames()

    def _first_close(self) -> Event | None:
        closes = self.events_of(CLOSE)
        return closes[0] if closes else None

    @property
    def close_code(self) -> int | None:
        """Code of the close that ended the connection (1006 if the client vanished)."""
        close = self._first_close()
        return close.code if close else None

    @property
    def close_reason(self) -> str | None:
        close = self._first_close()
        return close.reason if close else None

    @property
    def closed_by(self) -> str | None:
        """``"server"`` (the app) or ``"client"``, whoever closed first."""
        close = self._first_close()
        return close.by if close else None
