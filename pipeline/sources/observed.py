"""Keep an :class:`~pipeline.clock.ObservedClock` at the latest plausible time a source has
produced: a producer publishing a replay stamps its messages with it, and the workers'
clocks follow those stamps."""

from __future__ import annotations

from pipeline.clock import LatestClock, ObservedClock, SystemClock
from pipeline.observation import Observation
from pipeline.quarantine import Rejection
from pipeline.sources import Source
from pipeline.times import implausible_time


class ObservedTimeSource:
    """Wraps a source whose data is not "now" (a replay). A reading stamped further ahead
    than ``max_future_s`` of the later of this clock and the wall clock does not move it: the
    workers reject it, and one bad timestamp must not move every worker's "now"."""

    def __init__(self, source: Source, clock: ObservedClock, max_future_s: float) -> None:
        self._source = source
        self._clock = clock
        self._reference = LatestClock(clock, SystemClock())
        self._max_future_s = max_future_s
        self.name = source.name
        self.poll_interval_s = source.poll_interval_s

    def poll(self) -> list[Observation]:
        observations = self._source.poll()
        limit = self._reference.now() + self._max_future_s
        plausible = [
            o.observed_at
            for o in observations
            if o.observed_at <= limit and implausible_time(o.observed_at) is None
        ]
        if plausible:
            self._clock.advance_to(max(plausible))
        return observations

    @property
    def exhausted(self) -> bool:
        return self._source.exhausted

    @property
    def cut_short(self) -> str | None:
        return self._source.cut_short

    def state(self) -> str:
        return self._source.state()

    def drain_rejections(self) -> list[Rejection]:
        return self._source.drain_rejections()

    def close(self) -> None:
        self._source.close()
