"""Where observations come from. Every source has the same small face (:class:`Source`)."""

from __future__ import annotations

from typing import Protocol

from pipeline.observation import Observation
from pipeline.quarantine import Rejection


class Source(Protocol):
    name: str
    poll_interval_s: float
    """Wall-clock seconds the producer waits between polls."""

    # Read-only: a source may answer them from its state (a replay) or fix them for good.
    @property
    def exhausted(self) -> bool:
        """True once the source will give nothing more (a replay at its end, unless it loops)."""
        ...

    @property
    def cut_short(self) -> str | None:
        """Why the source ended before giving all it had (a replay whose file could no longer
        be read), else None: what it did not give is lost, and ``headless`` exits 1."""
        ...

    def poll(self) -> list[Observation]:
        """Observations that became available since the last poll (possibly none). Never
        raises for bad input or a failing service: that shows in :meth:`state` and
        :meth:`drain_rejections`."""
        ...

    def state(self) -> str:
        """A short status for the console header: ``ok``, ``retrying in 5 s (HTTP 503)``,
        ``failing since 12:04:10Z: ...``, ``replay finished``."""
        ...

    def drain_rejections(self) -> list[Rejection]:
        """What the source received but could not turn into observations, with reasons, since
        the last call; the pipeline keeps them in the quarantine."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...
