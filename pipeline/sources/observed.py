"""Keep an :class:`~pipeline.clock.ObservedClock` at the latest time a source has produced."""

from __future__ import annotations

from pipeline.clock import ObservedClock
from pipeline.observation import Observation
from pipeline.quarantine import Rejection
from pipeline.sources import Source


class ObservedTimeSource:
    """Wraps a source whose data is not "now" (a replay): the pipeline's clock follows it, so
    "the last hour", ages and the future-timestamp check are about the replayed time."""

    def __init__(self, source: Source, clock: ObservedClock) -> None:
        self._source = source
        self._clock = clock
        self.name = source.name
        self.poll_interval_s = source.poll_interval_s

    def poll(self) -> list[Observation]:
        observations = self._source.poll()
        if observations:
            self._clock.advance_to(max(o.observed_at for o in observations))
        return observations

    def state(self) -> str:
        return self._source.state()

    def drain_rejections(self) -> list[Rejection]:
        return self._source.drain_rejections()

    def close(self) -> None:
        self._source.close()
