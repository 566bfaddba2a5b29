"""A batch of wire messages decoded straight into columns: the fast path from bytes.

Almost every message is a sound observation of known variables. For those, msgspec decodes
each message into a struct whose ``values`` has one float field per configured variable
(NaN where absent; unknown variables forbidden), so one C call per message type-checks it
and an ``attrgetter`` takes its readings as a row: no per-observation dict or
:class:`~pipeline.observation.Observation` is built. Anything the fixed struct refuses (an
unknown variable, a null, a naive time, bytes that are not JSON) is decoded again by
:func:`pipeline.codec.decode_observation`, the general path, so its observation or its
rejection, with the reason, is exactly what it always was.

JSON has no NaN or infinity (msgspec refuses ``NaN`` and an overflowing ``1e999``), so in the
columns NaN always means "not sent".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from operator import attrgetter
from typing import Annotated, Any

import msgspec
import numpy as np

from pipeline.codec import decode_observation
from pipeline.observation import Observation
from pipeline.quarantine import Rejection
from pipeline.times import EARLIEST, LATEST

NAN = float("nan")
_VALUES, _STATION, _OBSERVED_AT = (
    attrgetter("values"),
    attrgetter("station_id"),
    attrgetter("observed_at"),
)
_AWARE = Annotated[datetime, msgspec.Meta(tz=True)]  # a naive time goes the general way


@dataclass(slots=True)
class WireColumns:
    """``n`` decoded messages: row ``i`` is ``station_id[i]`` at ``observed_at[i]`` (seconds
    since the epoch, not yet checked against any clock) with ``values[i]`` (one column per
    configured variable, NaN where not sent). ``wires`` keeps each message's struct for the
    rare row that needs more than its columns: a new station's name and position, or a
    rejection's copy of the message. ``position``: each row's place in its batch.

    ``others`` are the batch's messages the fixed struct refused and the general path decoded
    into observations (an unknown variable, a naive time...), at ``other_positions``: they
    travel with the columns so that validation sees everything that is not plainly sound in
    the order it was sent (a new station is placed and named by its first message, and the
    station limit admits first come, first served)."""

    names: tuple[str, ...]
    station_id: list[str] = field(default_factory=list)
    observed_at: np.ndarray = field(default_factory=lambda: np.zeros(0))
    values: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    wires: list[Any] = field(default_factory=list)
    default_source: str = ""  # where messages that name no source came from
    position: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    others: list[Observation] = field(default_factory=list)
    other_positions: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        """Observations carried: the rows and the others."""
        return len(self.station_id) + len(self.others)

    @property
    def rows(self) -> int:
        return len(self.station_id)

    def take(self, rows: np.ndarray) -> WireColumns:
        return WireColumns(
            self.names,
            [self.station_id[row] for row in rows.tolist()],
            self.observed_at[rows],
            self.values[rows],
            [self.wires[row] for row in rows.tolist()],
            self.default_source,
            self.position[rows],
            self.others,
            self.other_positions,
        )

    def sources(self, rows: np.ndarray) -> list[str]:
        default = self.default_source
        wires = self.wires
        return [wires[row].source or default for row in rows.tolist()]

    def observation(self, row: int) -> Observation:
        """Row ``row`` as an observation, for the general path and for rejections."""
        wire = self.wires[row]
        readings = self.values[row]
        return Observation(
            station_id=wire.station_id,
            station_name=wire.station_name or wire.station_id,
            lat=NAN if wire.lat is None else wire.lat,
            lon=NAN if wire.lon is None else wire.lon,
            observed_at=float(self.observed_at[row]),
            source=wire.source or self.default_source,
            values={
                name: value
                for name, value in zip(self.names, readings.tolist(), strict=True)
                if not math.isnan(value)
            },
        )

    def in_batch_order(self, rows: np.ndarray) -> list[Observation]:
        """``rows`` as observations, with the others, in the order the batch had them."""
        placed = [(int(self.position[row]), self.observation(row)) for row in rows.tolist()]
        placed += zip(self.other_positions, self.others, strict=True)
        return [observation for _, observation in sorted(placed, key=lambda p: p[0])]

    def observations(self) -> list[Observation]:
        return self.in_batch_order(np.arange(self.rows))


@dataclass(slots=True)
class DecodedBatch:
    """Every message of a batch, once: decoded (``columns``: see :class:`WireColumns`), or
    refused (``rejections``, and their positions in the batch in ``rejected``, for a bus that
    dead-letters them)."""

    columns: WireColumns
    rejections: list[Rejection]
    rejected: list[int]


class ColumnDecoder:
    """Decodes batches of wire messages for one list of variables."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        fields = [f"v{i}" for i in range(len(self.names))]
        values = msgspec.defstruct(
            "WireValues",
            [(name, float, NAN) for name in fields],
            forbid_unknown_fields=True,
            rename=dict(zip(fields, self.names, strict=True)),
        )
        wire = msgspec.defstruct(
            "WireColumnsRow",
            [
                ("station_id", str),
                ("observed_at", _AWARE | float),
                ("values", values),
                ("station_name", str, ""),
                ("lat", float | None, None),
                ("lon", float | None, None),
                ("source", str, ""),
            ],
        )
        self._decode = msgspec.json.Decoder(wire).decode
        self._readings = attrgetter(*fields) if fields else None
        self._width = len(fields)

    def decode(self, payloads: Sequence[bytes], *, received_at: float, source: str) -> DecodedBatch:
        """Every payload becomes a row of the columns, an observation or a rejection; never
        an exception. Each message is decoded on its own bounds: joining them into one JSON
        array would decode faster, but lets two malformed fragments (``{"station_id": "a",``
        and ``"observed_at": ...}``) join into an observation nobody sent."""
        decode = self._decode
        taken: Sequence[int] = range(len(payloads))  # the payloads the columns hold, in order
        try:  # the common case: every message fits the fixed struct
            wires = [decode(p) for p in payloads]
        except Exception:
            wires, fits = [], []
            for position, payload in enumerate(payloads):
                try:
                    wires.append(decode(payload))
                    fits.append(position)
                except Exception:
                    pass
            taken = fits
        columns = self._columns(wires, source)
        columns.position = np.asarray(taken, dtype=np.int64)
        impossible = np.flatnonzero(
            ~((columns.observed_at >= EARLIEST) & (columns.observed_at <= LATEST))
        )
        general: list[int] = []
        if impossible.size:  # no instant of an observation: the codec says why
            general = columns.position[impossible].tolist()
            columns = columns.take(np.setdiff1d(np.arange(columns.rows), impossible))
        if len(taken) < len(payloads):
            general = sorted(set(range(len(payloads))).difference(taken).union(general))
        rejections, rejected = [], []
        for position in general:  # the general path says exactly what each one is
            decoded = decode_observation(payloads[position], received_at=received_at, source=source)
            if isinstance(decoded, Rejection):
                rejections.append(decoded)
                rejected.append(position)
            else:
                columns.others.append(decoded)
                columns.other_positions.append(position)
        return DecodedBatch(columns, rejections, rejected)

    def _columns(self, wires: list[Any], source: str) -> WireColumns:
        columns = WireColumns(self.names, default_source=source)
        if not wires:
            columns.values = np.zeros((0, self._width))
            return columns
        n = len(wires)
        readings = self._readings
        if readings is not None:  # one flat pass: several times faster than rows of tuples
            rows = map(readings, map(_VALUES, wires))
            flat = rows if self._width == 1 else chain.from_iterable(rows)
            columns.values = np.fromiter(flat, np.float64, n * self._width).reshape(n, -1)
        else:
            columns.values = np.zeros((n, 0))
        columns.station_id = list(map(_STATION, wires))
        stamps = list(map(_OBSERVED_AT, wires))
        try:
            seconds = list(map(datetime.timestamp, stamps))
        except TypeError:  # some times sent as epoch seconds
            seconds = [t.timestamp() if t.__class__ is datetime else t for t in stamps]
        columns.observed_at = np.array(seconds, dtype=np.float64)
        columns.wires = wires
        return columns
