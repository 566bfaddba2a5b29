"""The consumer's work on one batch: validate, de-duplicate, detect, keep, store.

One :class:`Analytics` owns all per-station state (detectors, recent history, the latest time
seen per station) and is driven by exactly one thread, the consumer worker, so none of that
state needs locks beyond the read-side ones of the objects the console polls.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from pipeline.alerts import Alert, AlertBook
from pipeline.anomaly import Anomaly
from pipeline.bus import Delivery
from pipeline.clock import Clock
from pipeline.codec import observation_as_text
from pipeline.detectors import DetectorBank
from pipeline.frame import ObservationFrame
from pipeline.health import Counters, RateMeter
from pipeline.history import RecentHistory
from pipeline.persistence import PersistenceWatch
from pipeline.quarantine import Rejection
from pipeline.registry import StationRegistry
from pipeline.settings import (
    DetectorSettings,
    PersistenceSettings,
    RuleSettings,
    ValidationSettings,
)
from pipeline.store import Store, StoreError
from pipeline.validation import Validator
from pipeline.variables import VariableSpec

log = logging.getLogger(__name__)

UPSTREAM_MEMORY = 50_000  # anomaly keys a watching console remembers to drop repeats
AnomalyListener = Callable[[Anomaly], None]
AlertListener = Callable[[Alert], None]


class Analytics:
    def __init__(
        self,
        *,
        variables: Sequence[VariableSpec],
        detectors: DetectorSettings,
        rules: RuleSettings,
        validation: ValidationSettings,
        clock: Clock,
        registry: StationRegistry,
        store: Store | None,
        history_depth: int = 240,
        wall: Clock | None = None,
        detect: bool = True,
        clear_after_s: float = 0.0,
        persistence: PersistenceSettings | None = None,
    ) -> None:
        """``detect=False`` is a watching console's: anomalies and alerts arrive with each
        delivery from workers elsewhere and are shown, not found again here."""
        self.variables = tuple(variables)
        self.detect = detect
        self.clock = clock
        self.registry = registry
        self.store = store
        self.validator = Validator(variables, validation, clock)
        self.bank = DetectorBank(variables, detectors, rules)
        self.history = RecentHistory(len(variables), history_depth)
        self.alerts = AlertBook(clear_after_s=clear_after_s)
        # Held from an alert's change until its listeners are told (the history records it),
        # here and for a person's acknowledgement or silence from another thread: the record
        # keeps the order the changes happened in, which a restart rebuilds the alerts from.
        self.alert_lock = threading.RLock()
        persistence = persistence or PersistenceSettings()
        self.persistence = PersistenceWatch(
            enabled=persistence.enabled,
            count=persistence.count,
            window_s=persistence.window_min * 60,
        )
        self.counters = Counters()
        self.rate = RateMeter(wall=wall)
        self.store_error: str | None = None
        self.anomaly_listeners: list[AnomalyListener] = []
        self.alert_listeners: list[AlertListener] = []
        self._deferred: deque[Rejection] = deque()
        self._upstream_seen: dict[tuple[str, str, str, float], None] = {}
        self._last_time = np.full(0, -np.inf)
        self._store_keys = np.zeros(0, dtype=np.int64)

    # -- state -----------------------------------------------------------------------------

    def _ensure_stations(self) -> None:
        n = len(self.registry)
        known = self._last_time.shape[0]
        if n > known:
            self._last_time = np.concatenate([self._last_time, np.full(n - known, -np.inf)])
        if self.store is not None and self._store_keys.shape[0] < n:
            keys = [
                self.store.station_key(s) for s in self.registry.stations[len(self._store_keys) :]
            ]
            self._store_keys = np.concatenate([self._store_keys, np.array(keys, dtype=np.int64)])

    def restore(self, since: float, per_station: int = 720) -> int:
        """Warm detectors and history from what the store kept; no anomalies are re-raised.

        ``per_station`` bounds start-up work with many stations; the default covers the longest
        detector memory (the 3 h pressure window at one reading a minute is 180 readings)."""
        if self.store is None:
            return 0
        stored = self.store.recent_observations(since, limit_per_station=per_station)
        if not len(stored.observed_at):
            return 0
        mapping = np.array(
            [self.registry.add(stored.stations[sid]) for sid in stored.station_ids],
            dtype=np.int64,
        )
        frame = ObservationFrame(mapping[stored.station], stored.observed_at, stored.values)
        self._ensure_stations()
        self.bank.process(frame, self.registry.ids, emit=False)
        self.history.append(frame)
        np.maximum.at(self._last_time, frame.station, frame.observed_at)
        log.info("restored %d stored observations since %.0f", len(frame), since)
        return len(frame)

    # -- one batch -------------------------------------------------------------------------

    def process(self, delivery: Delivery) -> list[Anomaly]:
        received_at = self.clock.now()
        counters = self.counters
        deferred = self._take_deferred()
        counters.received += len(delivery.observations) + len(delivery.rejections) + len(deferred)
        frame, rejections = self.validator.to_frame(
            delivery.observations, self.registry, received_at
        )
        rejections = delivery.rejections + deferred + rejections
        counters.rejected_messages += sum(1 for r in rejections if r.variable is None)
        counters.rejected_readings += sum(1 for r in rejections if r.variable is not None)
        self._ensure_stations()

        fresh, late = self._split_by_time(frame)
        if self.detect:
            anomalies = self.bank.process(fresh, self.registry.ids).anomalies if len(fresh) else []
        else:  # watching: keep the detectors' state for display, take anomalies from upstream
            if len(fresh):
                self.bank.process(fresh, self.registry.ids, emit=False)
            anomalies = [a for a in delivery.anomalies if self._first_sight(a)]
        self.history.append(fresh)
        if len(fresh):
            np.maximum.at(self._last_time, fresh.station, fresh.observed_at)
        counters.accepted += len(fresh)
        counters.anomalies += len(anomalies)
        self.rate.add(len(fresh))

        # Listeners first: a worker publishes from them, and one killed after storing but
        # before publishing would find the batch already stored when it comes again.
        for anomaly in anomalies:
            tell_listeners(self.anomaly_listeners, anomaly)
        with self.alert_lock:
            if self.detect:
                changed = self.alerts.observe(anomalies + self.persistence.observe(anomalies))
                holding = self.bank.holding_rules(self.registry.ids)
                holding |= self.persistence.holding(self.clock.now())
                changed += self.alerts.settle(holding, self.clock.now())
            else:
                changed = self.alerts.mirror(delivery.alerts)
            for alert in changed:
                tell_listeners(self.alert_listeners, alert)
        self._write(fresh, late, anomalies, rejections)
        return anomalies

    def _first_sight(self, anomaly: Anomaly) -> bool:
        """Workers publish at least once: a repeat (a re-delivered batch) is not news."""
        key = (anomaly.station_id, anomaly.variable, anomaly.detector, anomaly.observed_at)
        if key in self._upstream_seen:
            return False
        self._upstream_seen[key] = None
        if len(self._upstream_seen) > UPSTREAM_MEMORY:
            del self._upstream_seen[next(iter(self._upstream_seen))]
        return True

    def defer(self, rejections: list[Rejection]) -> None:
        """Rejections found before the bus (by a source); any thread may call this. They are
        counted and stored by the consumer thread with its next batch."""
        self._deferred.extend(rejections)

    def _take_deferred(self) -> list[Rejection]:
        taken = []
        while self._deferred:
            taken.append(self._deferred.popleft())
        return taken

    def flush_deferred(self) -> None:
        """Store deferred rejections when no batch is coming to carry them."""
        if self._deferred:
            self.process(Delivery([], self._take_deferred()))

    def quarantine(self, delivery: Delivery, reason: str) -> None:
        """Keep a batch that could not be processed, with the reason, rather than lose it."""
        received_at = self.clock.now()
        kept = delivery.rejections + [
            Rejection(
                received_at=received_at,
                source=obs.source,
                reason=reason,
                payload=observation_as_text(obs),
                station_id=obs.station_id,
            )
            for obs in delivery.observations
        ]
        self.counters.rejected_messages += len(kept)
        if self.store is None:
            return
        try:
            self.store.write(
                station_keys=np.zeros(0, dtype=np.int64),
                observed_at=np.zeros(0),
                values=np.zeros((0, len(self.variables))),
                source="",
                rejections=kept,
            )
        except StoreError as exc:
            log.error("could not quarantine a failed batch: %s", exc)
            self.store_error = str(exc)

    def prune(self) -> None:
        """Apply the store's retention."""
        if self.store is None:
            return
        try:
            removed = self.store.prune(self.clock.now())
        except StoreError as exc:
            log.error("pruning the store failed: %s", exc)
            return
        if removed:
            log.info("retention: removed %d old rows", removed)

    def _split_by_time(self, frame: ObservationFrame) -> tuple[ObservationFrame, ObservationFrame]:
        """New readings for detection, and late ones (older than the station's latest) for the
        store only. A repeat of a reading already seen is a duplicate: counted, not kept twice."""
        if not len(frame):
            return frame, frame
        order = np.lexsort((frame.observed_at, frame.station))
        stations, times = frame.station[order], frame.observed_at[order]
        repeat = np.zeros(len(order), dtype=bool)
        repeat[1:] = (stations[1:] == stations[:-1]) & (times[1:] == times[:-1])
        last = self._last_time[stations]
        repeat |= times == last
        for i in np.flatnonzero(~repeat & (times < last)):
            # Rare: an old reading. Seen recently? Then it is a re-delivery, not news.
            recent_times, _ = self.history.series(int(stations[i]))
            repeat[i] = bool(np.any(recent_times == times[i]))
        self.counters.duplicates += int(repeat.sum())
        fresh = order[~repeat & (times > last)]
        late = order[~repeat & (times < last)]
        return frame.take(fresh), frame.take(late)

    def _write(
        self,
        fresh: ObservationFrame,
        late: ObservationFrame,
        anomalies: list[Anomaly],
        rejections: list[Rejection],
    ) -> None:
        if self.store is None:
            self.counters.late += len(late)
            return
        rows = fresh if not len(late) else _concat(fresh, late)
        sources = rows.source if rows.source is not None else "unknown"
        try:
            stored = self.store.write(
                station_keys=self._store_keys[rows.station],
                observed_at=rows.observed_at,
                values=rows.values,
                source=sources,
                anomalies=anomalies,
                rejections=rejections,
            )
        except StoreError as exc:
            self.counters.store_failures += len(rows)
            if self.store_error != str(exc):
                log.error("store write failed: %s", exc)
            self.store_error = str(exc)
            return
        self.store_error = None
        self.counters.stored += stored
        # Late readings the store already had are duplicates after all (e.g. a replayed batch).
        late_new = max(0, min(len(late), stored - len(fresh)))
        self.counters.late += late_new
        self.counters.duplicates += len(rows) - stored


def tell_listeners(listeners: list, item: object) -> None:
    """Each listener on its own: one that fails (an unwritable alert history) must neither
    keep the next (the notifier) from hearing nor lose the batch being processed."""
    for listener in listeners:
        try:
            listener(item)
        except Exception:
            log.exception("a listener failed on %r", item)


def _concat(a: ObservationFrame, b: ObservationFrame) -> ObservationFrame:
    source = None
    if a.source is not None and b.source is not None:
        source = np.concatenate([a.source, b.source])
    return ObservationFrame(
        np.concatenate([a.station, b.station]),
        np.concatenate([a.observed_at, b.observed_at]),
        np.concatenate([a.values, b.values]),
        source,
    )
