"""Observations through the embedded pipeline, as the console runs it, collecting what fires."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import msgspec

from mass_tui.settings_layers import LoadedSettings, pipeline_settings
from pipeline.alerts import Alert
from pipeline.anomaly import Anomaly
from pipeline.bus import Delivery, MemoryBus
from pipeline.clock import FixedClock
from pipeline.observation import Observation
from pipeline.runtime import Pipeline
from pipeline.stations import Station
from pipeline.store import Store
from pipeline.wire_columns import ColumnDecoder

if TYPE_CHECKING:
    from typing_extensions import TypeIs


@dataclass(slots=True)
class Outcome:
    """What a run produced: every anomaly, every alert change, and how long processing took
    (generating the chunks is not timed)."""

    seconds: float = 0.0
    accepted: int = 0
    rejected_readings: int = 0  # readings validation refused (out of range, ...)
    anomalies: list[Anomaly] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


def _wire(items: list[Observation] | list[bytes]) -> TypeIs[list[bytes]]:
    """A chunk of wire messages (its first item is bytes; a chunk is of one kind)."""
    return bool(items) and isinstance(items[0], bytes)


def run_chunks(
    loaded: LoadedSettings,
    stations: Sequence[Station],
    chunks: Iterable[tuple[float, list[Observation]]] | Iterable[tuple[float, list[bytes]]],
    *,
    batch: int | None = None,
    store: Store | None = None,
) -> Outcome:
    """Push each chunk ``(clock time, observations)`` through one pipeline, in order. A chunk
    of wire messages (bytes, as a Kafka worker gets them) is decoded first, batch by batch,
    and the decoding is timed with the rest.

    The clock is set to the chunk's time before it is published, so the future check and
    the no-data watch see the observed time, not the wall clock: a replayed year is judged
    as if it were live.
    """
    settings = loaded.settings
    batch = batch or settings.bus.batch_size
    clock = FixedClock(0.0)
    pipeline = Pipeline(
        replace(
            pipeline_settings(loaded, stations),
            bus=msgspec.structs.replace(settings.bus, batch_size=batch),
        ),
        clock=clock,
        source=None,  # fed directly below
        bus=MemoryBus(1 << 30),
        store=store,
    )
    outcome = Outcome()
    decoder = ColumnDecoder(loaded.variable_names)
    pipeline.subscribe(anomalies=outcome.anomalies.append, alerts=outcome.alerts.append)
    for now, items in chunks:
        clock.set(now)
        began = time.perf_counter()
        if _wire(items):
            for first in range(0, len(items), batch):
                decoded = decoder.decode(
                    items[first : first + batch], received_at=now, source="bench"
                )
                pipeline.process(Delivery([], decoded.rejections, wire=decoded.columns))
        else:
            pipeline.bus.publish(items)
            pipeline.process_pending()
        outcome.seconds += time.perf_counter() - began
    if store is not None:
        began = time.perf_counter()
        store.close()
        outcome.seconds += time.perf_counter() - began
    counters = pipeline.analytics.counters
    outcome.accepted = counters.accepted
    outcome.rejected_readings = counters.rejected_readings
    return outcome
