"""Where observations come from. Every source has the same small face (:class:`Source`)."""

from __future__ import annotations

from typing import Protocol

from pipeline.observation import Observation


class Source(Protocol):
    name: str
    poll_interval_s: float
    """Wall-clock seconds between polls."""

    def poll(self) -> list[Observation]:
        """Observations that became available since the last poll (possibly none)."""
        ...

    def state(self) -> str:
        """A short status for the console header (``ok``, ``retrying in 5 s`` ...)."""
        ...
