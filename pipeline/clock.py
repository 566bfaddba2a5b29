"""One clock for the whole pipeline, injectable so that tests and snapshots can freeze time.

Times are floats of seconds since the Unix epoch, UTC. Observed time (what the data says) and
wall time can differ: the simulator runs faster than the wall clock, so it is given an
:class:`AcceleratedClock` and everything downstream (future-timestamp checks, "last hour"
windows) reads observed time from it.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch (UTC)."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()


class MonotonicClock:
    """Seconds that never go backwards, for measuring intervals (rates, stalls)."""

    def now(self) -> float:
        return time.monotonic()


class FixedClock:
    """A clock that moves only when told to: for tests and snapshot runs."""

    def __init__(self, start: float) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def set(self, when: float) -> None:
        with self._lock:
            self._now = when


class AcceleratedClock:
    """Observed time that runs ``scale`` times faster than the wall clock, from ``start``."""

    def __init__(self, start: float, scale: float, wall: Clock | None = None) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self._wall = wall or SystemClock()
        self._start = start
        self._wall_start = self._wall.now()
        self.scale = scale

    def now(self) -> float:
        return self._start + (self._wall.now() - self._wall_start) * self.scale


class ObservedClock:
    """Observed time as far as the data has got: for a replay, whose "now" is the time of the
    latest observation it has played, however fast or slow it plays."""

    def __init__(self, start: float) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance_to(self, when: float) -> None:
        with self._lock:
            self._now = max(self._now, when)


class LatestClock:
    """The later of several clocks: for a replay, "now" for the future-timestamp check is the
    wall clock (a file of past readings cannot hold tomorrow's) or the replayed time where a
    looping replay has run past it."""

    def __init__(self, *clocks: Clock) -> None:
        self._clocks = clocks

    def now(self) -> float:
        return max(clock.now() for clock in self._clocks)
