"""The built-in station simulator as a live source, paced by the pipeline's clock."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pipeline.clock import Clock
from pipeline.observation import Observation
from pipeline.quarantine import Rejection
from pipeline.simulation.station_simulator import StationSimulator
from pipeline.stations import Station


class SimulatorSource:
    """Emits every simulated step whose time has come on ``clock``.

    With an accelerated clock, ``interval_s`` of observed time pass every
    ``interval_s / time_scale`` wall seconds, so the rate per station is what the settings say
    while fronts and diurnal cycles play out faster than real time.
    """

    name = "simulator"
    exhausted = False

    def __init__(
        self,
        simulator: StationSimulator,
        stations: Sequence[Station],
        variable_names: Sequence[str],
        clock: Clock,
        interval_s: float,
        start: float,
        max_rows_per_poll: int = 20_000,
    ) -> None:
        self._simulator = simulator
        self._stations = list(stations)
        self._names = list(variable_names)
        self._clock = clock
        self.interval_s = interval_s
        self._next = math.ceil(start / interval_s) * interval_s
        # Catching up after a pause must not build millions of objects at once.
        self._max_steps = max(1, max_rows_per_poll // max(1, len(self._stations)))
        # Four batches a second: fresh enough for a person, few enough that per-batch costs
        # (a transaction, a detector round) stay small at high rates.
        self.poll_interval_s = 0.25

    def poll(self) -> list[Observation]:
        due = self._clock.now() - self._next
        if due < 0:
            return []
        steps = min(int(due // self.interval_s) + 1, self._max_steps)
        block = self._simulator.generate(self._next, steps, self.interval_s)
        self._next += steps * self.interval_s
        return block.to_observations(self._stations, self._names, source=self.name)

    cut_short = None  # generated data has no end to miss

    def state(self) -> str:
        return "ok"

    def drain_rejections(self) -> list[Rejection]:
        return []  # generated data is always well formed

    def close(self) -> None:
        pass
