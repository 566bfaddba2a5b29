"""Turn decoded observations into a columnar frame, rejecting what cannot be analysed.

Policy: a problem with the message as a whole (no station id, no or impossible timestamp, a
timestamp too far in the future, no values) rejects the whole message. A problem with one
reading (a variable nobody configured, NaN/infinity, a value outside the variable's plausible
range) rejects that reading only: the rest of a sound observation still counts. Every rejection
goes to the quarantine with its reason and the original observation; nothing is dropped silently.

Almost every observation is sound, so the common path is a single ``dict.get`` per variable
into a row; only observations that fail a cheap guard take the slow path that works out exactly
what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from pipeline.clock import Clock
from pipeline.codec import observation_as_text
from pipeline.frame import ObservationFrame
from pipeline.observation import Observation
from pipeline.quarantine import Rejection
from pipeline.registry import StationRegistry
from pipeline.settings import ValidationSettings
from pipeline.variables import VariableSpec

NAN = float("nan")
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC).timestamp()


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Validator:
    def __init__(
        self, variables: Sequence[VariableSpec], settings: ValidationSettings, clock: Clock
    ) -> None:
        self.variables = tuple(variables)
        self.names = tuple(v.name for v in variables)
        self._known = frozenset(self.names)
        self._minimum = np.array([v.minimum for v in variables])
        self._maximum = np.array([v.maximum for v in variables])
        self._settings = settings
        self._clock = clock

    def to_frame(
        self, observations: Sequence[Observation], registry: StationRegistry, received_at: float
    ) -> tuple[ObservationFrame, list[Rejection]]:
        names, known = self.names, self._known
        latest = self._clock.now() + self._settings.max_future_s
        rejections: list[Rejection] = []
        rows: list[list[float]] = []
        stations: list[int] = []
        times: list[float] = []
        present: list[int] = []
        sources: list[str] = []
        kept: list[Observation] = []
        index_of = registry.index_of
        for obs in observations:
            values = obs.values
            if not (obs.station_id and values and EARLIEST <= obs.observed_at <= latest) or not (
                values.keys() <= known
            ):
                values = self._slow_path(obs, latest, received_at, rejections)
                if not values:
                    continue
            rows.append([values.get(n, NAN) for n in names])
            stations.append(index_of(obs))
            times.append(obs.observed_at)
            present.append(len(values))
            sources.append(obs.source)
            kept.append(obs)
        matrix = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
        finite = np.isfinite(matrix)
        suspect = np.flatnonzero(finite.sum(axis=1) != np.array(present, dtype=np.int64))
        out_of_range = (matrix < self._minimum) | (matrix > self._maximum)
        suspect = np.union1d(suspect, np.flatnonzero(out_of_range.any(axis=1)))
        for row in suspect.tolist():
            self._reject_readings(kept[row], matrix[row], received_at, rejections)
        frame = ObservationFrame(
            np.array(stations, dtype=np.int64),
            np.array(times, dtype=np.float64),
            matrix,
            np.array(sources, dtype=object),
        )
        if suspect.size:
            usable = ~np.isnan(matrix).all(axis=1)
            if not usable.all():
                frame = frame.take(np.flatnonzero(usable))
        return frame, rejections

    def _slow_path(
        self, obs: Observation, latest: float, received_at: float, rejections: list[Rejection]
    ) -> dict[str, float] | None:
        """Work out what is wrong; return the usable values, or None to reject the message."""
        reason = None
        if not obs.station_id:
            reason = "missing station_id"
        elif not math.isfinite(obs.observed_at) or obs.observed_at < EARLIEST:
            reason = f"impossible observed_at {obs.observed_at!r}"
        elif obs.observed_at > latest:
            ahead = obs.observed_at - (latest - self._settings.max_future_s)
            reason = (
                f"observed_at {_iso(obs.observed_at)} is {ahead:.0f} s in the future "
                f"(limit {self._settings.max_future_s:.0f} s)"
            )
        elif not obs.values:
            reason = "no values"
        if reason:
            rejections.append(self._rejection(obs, reason, received_at))
            return None
        usable = {}
        for name, value in obs.values.items():
            if name in self._known:
                usable[name] = value
            else:
                rejections.append(
                    self._rejection(
                        obs,
                        f"unknown variable {name!r} (declare it under [variables] in config)",
                        received_at,
                        variable=name,
                    )
                )
        if not usable:
            return None
        return usable

    def _reject_readings(
        self, obs: Observation, row: np.ndarray, received_at: float, rejections: list[Rejection]
    ) -> None:
        """Blank the row's bad readings (in place) and quarantine each with its reason."""
        for column, spec in enumerate(self.variables):
            raw = obs.values.get(spec.name)
            if raw is None:
                continue
            if not math.isfinite(raw):
                reason = f"{spec.name} is not a finite number ({raw!r})"
            elif not spec.minimum <= raw <= spec.maximum:
                reason = (
                    f"{spec.name} = {raw:g} {spec.unit} is outside the plausible range "
                    f"{spec.minimum:g}..{spec.maximum:g}"
                ).replace("  ", " ")
            else:
                continue
            row[column] = NAN
            rejections.append(self._rejection(obs, reason, received_at, variable=spec.name))

    @staticmethod
    def _rejection(
        obs: Observation, reason: str, received_at: float, variable: str | None = None
    ) -> Rejection:
        return Rejection(
            received_at=received_at,
            source=obs.source,
            reason=reason,
            payload=_payload(obs),
            station_id=obs.station_id or None,
            variable=variable,
        )


def _payload(obs: Observation) -> str:
    try:
        return observation_as_text(obs)
    except (ValueError, OverflowError, OSError):
        return repr(obs)
