"""Replay a file of observations: JSONL in the wire format, or CSV with a column mapping.

``pace="recorded"`` plays the file at the pace its timestamps say, ``speed`` times faster
(60: an hour a minute), measured on the injected clock, so tests advance time instead of
sleeping; ``pace="fast"`` hands over up to ``batch`` observations a poll. ``loop`` starts again
at the end with times shifted forward by the file's span, so they keep increasing. A line that
cannot be read becomes a rejection naming the file and line number; the replay goes on. How a
CSV row is read (units, missing cells, local times, stations): :mod:`pipeline.sources.replay_csv`.
"""

from __future__ import annotations

import codecs
import math
from collections.abc import Generator, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import BinaryIO, Literal

from pipeline.clock import Clock, SystemClock
from pipeline.codec import decode_observation
from pipeline.observation import Observation
from pipeline.quarantine import Rejection, clip_payload
from pipeline.sources.replay_csv import CsvColumns, CsvHeaderError, CsvReader
from pipeline.stations import Station

DEMO_STREAM = "demo_stream.jsonl"


def demo_stream_path() -> Path:
    """The demo stream shipped with the package (simulated data: see demo/README.md)."""
    return Path(str(resources.files("pipeline.sources.demo").joinpath(DEMO_STREAM)))


class ReplaySource:
    name = "replay"

    def __init__(
        self,
        path: Path | None,
        *,
        clock: Clock,
        pace: Literal["recorded", "fast"] = "recorded",
        speed: float = 1.0,
        loop: bool = False,
        csv_columns: CsvColumns | None = None,
        stations: Sequence[Station] = (),
        batch: int = 1000,
        wall: Clock | None = None,
    ) -> None:
        """``clock`` paces the replay (monotonic in production, fixed in tests); ``wall`` stamps
        rejections with the real time they were found. A CSV row's station that is the id or
        name of one of ``stations`` takes its coordinates. Raises ValueError when the file
        cannot be read or a CSV file lacks a mapped column."""
        if speed <= 0:
            raise ValueError("replay speed must be positive")
        self.path = path or demo_stream_path()
        try:  # a file that cannot be read at all is a start-up error, not an empty replay
            self.path.open("rb").close()
        except OSError as exc:
            raise ValueError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        self._clock = clock
        self._wall = wall or SystemClock()
        self._pace = pace
        self._speed = speed
        self._loop = loop
        self._batch = batch
        self.poll_interval_s = 0.1
        self._rejections: list[Rejection] = []
        self._played = 0
        self._bad = 0
        self._bad_readings = 0
        self._error: str | None = None
        self._finished = False
        self._shift = 0.0  # added to observed times on each further pass of a loop
        self._first_time: float | None = None
        self._last_time: float | None = None
        self._started_at: float | None = None  # clock time of the first observation's play
        self._origin = 0.0  # observed time of the first observation played
        self._first_pass = 0  # observations in one pass of the file
        self._pending: Observation | None = None
        self._csv: CsvReader | None = None
        if self.path.suffix.lower() == ".csv":
            self._csv = CsvReader(
                self.path,
                csv_columns or CsvColumns(),
                stations,
                source=self.name,
                reject=self._reject,
            )
            self._csv.check_header()
        self._lines = self._read()

    # -- reading ---------------------------------------------------------------------------

    def _read(self) -> Generator[Observation, None, None]:
        """Every observation of the file, in file order, pass after pass when looping."""
        while True:
            try:
                with self.path.open("rb") as handle:
                    if self._csv is not None:
                        yield from self._csv.observations(handle)
                    else:
                        yield from self._jsonl(handle)
            except OSError as exc:
                self._error = f"cannot read {self.path}: {exc.strerror or exc}"
                return
            except CsvHeaderError as exc:  # the file changed since the start
                self._error = str(exc)
                return
            if not self._loop or self._first_time is None or self._last_time is None:
                return
            span = self._last_time - self._first_time
            spacing = span / max(self._first_pass - 1, 1)  # the file's mean spacing
            self._shift += span + max(spacing, 1.0)

    def _jsonl(self, handle: BinaryIO) -> Iterator[Observation]:
        """Each line is decoded on its own, as bytes: a line of invalid UTF-8 is one rejection,
        where a text-mode file would raise out of the iterator and end the replay. A UTF-8
        byte-order mark at the start of the file (editors on Windows write one) is not part
        of the first line."""
        for number, line in enumerate(handle, start=1):
            if number == 1 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8) :]
            if not line.strip():
                continue
            decoded = decode_observation(line, received_at=self._wall.now(), source=self.name)
            if isinstance(decoded, Rejection):
                self._reject(number, decoded.payload.rstrip("\r\n"), decoded.reason)
            else:
                yield self._shifted(decoded)

    def _shifted(self, observation: Observation) -> Observation:
        if self._shift:
            observation.observed_at += self._shift
        else:
            if self._first_time is None:
                self._first_time = observation.observed_at
            self._last_time = max(self._last_time or -math.inf, observation.observed_at)
            self._first_pass += 1
        return observation

    def _reject(
        self,
        number: int,
        line: str,
        reason: str,
        *,
        variable: str | None = None,
        station_id: str | None = None,
    ) -> None:
        """A bad line, or (``variable`` set) one bad reading of a row that went on."""
        if variable is None:
            self._bad += 1
        else:
            self._bad_readings += 1
        self._rejections.append(
            Rejection(
                received_at=self._wall.now(),
                source=self.name,
                reason=f"{self.path.name} line {number}: {reason}",
                payload=clip_payload(line),
                station_id=station_id,
                variable=variable,
            )
        )

    # -- the Source face -------------------------------------------------------------------

    def _next(self) -> Observation | None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            return pending
        observation = next(self._lines, None)
        if observation is None:
            self._finished = True
        return observation

    def poll(self) -> list[Observation]:
        out: list[Observation] = []
        now = self._clock.now()
        while len(out) < self._batch:
            observation = self._next()
            if observation is None:
                break
            if self._pace == "recorded":
                if self._started_at is None:
                    self._started_at, self._origin = now, observation.observed_at
                due = self._started_at + (observation.observed_at - self._origin) / self._speed
                if due > now:
                    self._pending = observation
                    break
            out.append(observation)
        self._played += len(out)
        return out

    @property
    def exhausted(self) -> bool:
        """Played to the end (a loop never ends), or the file cannot be read."""
        return self._finished and self._pending is None

    @property
    def cut_short(self) -> str | None:
        return self._error

    def state(self) -> str:
        if self._error:
            return self._error
        if self._finished and self._pending is None:
            readings = f", {self._bad_readings} bad readings" if self._bad_readings else ""
            return f"replay finished ({self._played} observations, {self._bad} bad lines{readings})"
        return "ok"

    def drain_rejections(self) -> list[Rejection]:
        taken, self._rejections = self._rejections, []
        return taken

    def close(self) -> None:
        self._lines.close()
