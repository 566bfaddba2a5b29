"""The consumer's work on one batch: validate, de-duplicate, detect, keep, store.

One :class:`Analytics` owns all per-station state (detectors, recent history, the latest time
seen per station, when each series' newest reading arrived) and is driven by exactly one
thread, the consumer worker, so none of that state needs locks beyond the read-side ones of
the objects the console polls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.alerts import NO_DATA, Alert, AlertBook
from pipeline.anomaly import Anomaly
from pipeline.arrivals import SeriesArrivals
from pipeline.bus import Delivery
from pipeline.clock import Clock, ObservedClock, SystemClock
from pipeline.codec import observation_as_text
from pipeline.detectors import DetectorBank
from pipeline.events import EventGrouper
from pipeline.frame import ObservationFrame, concat
from pipeline.health import Counters, IntakeMeter, LatencyTally, RateMeter, ReasonTally
from pipeline.maintenance import SensorFaultWatch
from pipeline.persistent_anomalies import PersistenceWatch
from pipeline.quarantine import Rejection
from pipeline.recent_history import RecentHistory
from pipeline.registry import StationRegistry
from pipeline.rows import with_rows
from pipeline.settings import (
    DetectorSettings,
    NoDataSettings,
    PersistenceSettings,
    RuleSettings,
    SensorFaultSettings,
    ValidationSettings,
)
from pipeline.stepped_time import SteppedTime
from pipeline.store import Store, StoreError
from pipeline.validation import Validator
from pipeline.variables import VariableSpec

FORGET_EVERY_S = 60.0  # of observed time: how often idle stations are looked for

log = logging.getLogger(__name__)

UPSTREAM_MEMORY = 50_000  # anomaly keys a watching console remembers to drop repeats
AnomalyListener = Callable[[Anomaly], None]
AlertListener = Callable[[Alert], None]


@dataclass(slots=True)
class UnstoredBatch:
    """A processed batch the store has not taken yet (a full disk, a locked or damaged file):
    kept, in order, and written when the store takes writes again."""

    rows: ObservationFrame
    fresh: int  # the first ``fresh`` rows are new readings; the rest arrived late
    anomalies: list[Anomaly]
    rejections: list[Rejection]


NOT_RECORDED = -1
"""The store key of a station not yet recorded in the store."""


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
        history_mb: float = 24.0,
        wall: Clock | None = None,
        detect: bool = True,
        clear_after_s: float = 0.0,
        persistence: PersistenceSettings | None = None,
        no_data: NoDataSettings | None = None,
        sensor_faults: SensorFaultSettings | None = None,
        follow: ObservedClock | None = None,
        future_clock: Clock | None = None,
        stamped: ObservedClock | None = None,
        max_stations: int = 20_000,
        forget_after_s: float = 0.0,
    ) -> None:
        """``detect=False`` is a watching console's: anomalies and alerts arrive with each
        delivery from workers elsewhere and are shown, not found again here. ``follow``: the
        clock is the data's own (a replay), moved by what is processed, never by what a source
        has merely read; alerts are then settled in fixed steps of it. ``future_clock``: what
        the future-timestamp check counts from (default ``clock``). ``stamped``: the clock is
        the producers' (a worker's), moved by the broker's timestamps of the messages it
        accepted (see :meth:`_follow_producers`). ``forget_after_s``: see
        :meth:`forget_idle`."""
        self.variables = tuple(variables)
        self.detect = detect
        self.clock = clock
        self.registry = registry
        self.store = store
        self.validator = Validator(
            variables, validation, future_clock or clock, max_stations=max_stations
        )
        self.follow = follow
        self.stamped = stamped
        self.forget_after_s = forget_after_s
        self._next_forget = -np.inf
        self.steps = SteppedTime() if follow is not None else None
        self.bank = DetectorBank(variables, detectors, rules)
        self.events = EventGrouper(detectors.event_gap_min * 60.0)
        self.history = RecentHistory(len(variables), history_depth, history_mb)
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
        self.no_data = no_data or NoDataSettings(enabled=False)
        self.maintenance = SensorFaultWatch(sensor_faults or SensorFaultSettings(enabled=False))
        self.counters = Counters()
        self.wall = wall or SystemClock()
        self.rate = RateMeter(wall=self.wall)
        self.intake = IntakeMeter()
        self.rejection_kinds = ReasonTally()
        self.store_latency = LatencyTally()
        self.store_error: str | None = None
        self._unstored: deque[UnstoredBatch] = deque()
        self.anomaly_listeners: list[AnomalyListener] = []
        self.alert_listeners: list[AlertListener] = []
        self._deferred: deque[Rejection] = deque()
        self._upstream_seen: dict[tuple[str, str, str, float], None] = {}
        self._last_time = np.full(0, -np.inf)
        self.arrivals = SeriesArrivals.of(len(self.variables))
        self._store_keys = np.zeros(0, dtype=np.int64)

    # -- state -----------------------------------------------------------------------------

    def _ensure_stations(self) -> None:
        n = len(self.registry)
        known = self._last_time.shape[0]
        if n > known:
            self._last_time = with_rows(self._last_time, n - known, -np.inf)
        self.arrivals.grow(n)
        if self._store_keys.shape[0] < n:  # recorded in the store when a batch is written
            unknown = n - self._store_keys.shape[0]
            self._store_keys = with_rows(self._store_keys, unknown, NOT_RECORDED)

    def _record_stations(self) -> None:
        """Record in the store the stations it does not know yet, as part of writing a batch:
        a full disk then keeps the batch waiting, as any failed write does, rather than
        failing it before it is analysed. Raises StoreError."""
        assert self.store is not None
        for index in np.flatnonzero(self._store_keys == NOT_RECORDED).tolist():
            self._store_keys[index] = self.store.station_key(self.registry.stations[index])

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
        self.bank.process(frame, self.registry.ids, elevations=self.registry.elevations, emit=False)
        self.history.append(frame)
        np.maximum.at(self._last_time, frame.station, frame.observed_at)
        # Counted as arriving now: what the source brings next (a backfill from the store's
        # newest reading) has yet to be caught up, and a station that stays dead is silent
        # one allowance after the restart, as one that stops while running.
        self.arrivals.record(frame, self.clock.now())
        self._carry_over_silences()
        log.info("restored %d stored observations since %.0f", len(frame), since)
        return len(frame)

    def _carry_over_silences(self) -> None:
        """A series whose no-data alert the earlier run left open (reinstated before the
        restore) stays silent until a reading of it arrives: counted as arriving at the
        restart, it would clear the alert, then open it again one allowance later (an
        all-clear and a repeat for the people told, about a station that never spoke)."""
        names = [v.name for v in self.variables]
        for alert in self.alerts.alerts():
            if alert.rule != NO_DATA or not alert.is_open:
                continue
            index = self.registry.get(alert.station_id)
            if index is None or (alert.variable != "*" and alert.variable not in names):
                continue
            columns = slice(None) if alert.variable == "*" else names.index(alert.variable)
            self.arrivals.unknown(index, columns)

    # -- one batch -------------------------------------------------------------------------

    def process(self, delivery: Delivery) -> list[Anomaly]:
        """Validate, detect, tell and store one delivery. Rejections found by a source since
        the last batch join it first, so a batch that fails still carries them to the
        quarantine. A rejection's ``received_at`` is wall time, as a source's own rejections
        are: it says when the process got the message, whatever time the data is at."""
        received_at = self.wall.now()
        counters = self.counters
        delivery.rejections.extend(self._take_deferred())
        counters.received += delivery.count + len(delivery.rejections)
        frame, rejections = self.validator.to_frame(
            delivery.observations, self.registry, received_at
        )
        if delivery.wire is not None and len(delivery.wire):
            columns, refused = self.validator.columns_to_frame(
                delivery.wire, self.registry, received_at
            )
            frame = concat(columns, frame) if len(frame) else columns
            rejections += refused
        rejections = delivery.rejections + rejections
        whole = [r for r in rejections if r.variable is None]
        counters.rejected_messages += len(whole)
        counters.rejected_readings += sum(r.readings for r in rejections if r.variable)
        messages = delivery.count + len(delivery.rejections)
        self.intake.add(messages, len(whole), whole[-1].reason if whole else "")
        if rejections:
            self.rejection_kinds.add([r.reason for r in rejections])
        self._ensure_stations()
        if self.stamped is not None:
            self._follow_producers(delivery.sent_at, frame)

        fresh, late = self._split_by_time(frame)
        self.arrivals.record(fresh, self.clock.now())
        if self.detect and self.steps is not None:
            anomalies = self._detect_in_steps(fresh)
        elif self.detect:
            anomalies = self._detect(fresh, self.clock.now())
        else:  # watching: keep the detectors' state for display, take anomalies from upstream
            if len(fresh):
                self.bank.process(
                    fresh, self.registry.ids, elevations=self.registry.elevations, emit=False
                )
            anomalies = [a for a in delivery.anomalies if self._first_sight(a)]
            for anomaly in anomalies:
                tell_listeners(self.anomaly_listeners, anomaly)
            with self.alert_lock:
                for alert in self.alerts.mirror(delivery.alerts):
                    tell_listeners(self.alert_listeners, alert)
        self.history.append(fresh)
        if len(fresh):
            np.maximum.at(self._last_time, fresh.station, fresh.observed_at)
        counters.accepted += len(fresh)
        counters.anomalies += sum(a.event_start is None for a in anomalies)  # events
        self.rate.add(len(fresh))
        self._write(fresh, late, anomalies, rejections)
        if self.clock.now() >= self._next_forget:
            self._next_forget = self.clock.now() + FORGET_EVERY_S
            self.forget_idle()
        return anomalies

    def _follow_producers(self, sent_at: float | None, accepted: ObservationFrame) -> None:
        """The producers own "now" (they may replay, or simulate faster than real time), but
        only as far as what they sent bears it out: the batch was validated against the clock
        before it moves, and it moves at most ``max_future_s`` past the newest reading it
        accepted. Garbage stamped in 2100, or a sound reading stamped so, cannot move it;
        otherwise every later reading up to 2100 would pass the future check, be stored, and
        after a restart retention would count from there."""
        assert self.stamped is not None  # only called when following the producers
        if sent_at is None or not len(accepted):
            return
        newest = float(accepted.observed_at.max())
        self.stamped.advance_to(min(sent_at, newest + self.validator.max_future_s))

    def _detect(self, fresh: ObservationFrame, settle_at: float | None) -> list[Anomaly]:
        """Run the detectors over new readings and tell what they found; then (``settle_at``)
        clear the alerts whose rules no longer hold.

        Listeners first: a worker publishes from them, and one killed after storing but before
        publishing would find the batch already stored when it comes again."""
        found = []
        if len(fresh):
            result = self.bank.process(
                fresh, self.registry.ids, elevations=self.registry.elevations
            )
            found, fresh.suspect = result.anomalies, result.suspect
        anomalies = self.events.group(found)
        for anomaly in anomalies:
            tell_listeners(self.anomaly_listeners, anomaly)
        with self.alert_lock:
            changed = self.alerts.observe(found + self._conditions(found))
            for alert in changed:
                tell_listeners(self.alert_listeners, alert)
        if settle_at is not None:
            self._settle(settle_at)
        return anomalies

    def _settle(self, now: float) -> None:
        self.events.close_before(now)
        silent = self._silences(now)
        with self.alert_lock:
            for alert in self.alerts.observe(silent):
                tell_listeners(self.alert_listeners, alert)
            ids = self.registry.ids
            holding = self.bank.holding_rules(ids) | self.persistence.holding(now)
            holding |= self.maintenance.holding(
                now, self.bank.frozen_series(ids), self.bank.inconsistent_series(ids)
            )
            holding |= {(a.station_id, a.detector, a.variable) for a in silent}
            for alert in self.alerts.settle(holding, now):
                tell_listeners(self.alert_listeners, alert)

    def _conditions(self, anomalies: list[Anomaly]) -> list[Anomaly]:
        """The rule-like conditions that ``anomalies`` raise: a run of statistical anomalies
        (persistence), a sensor fault that needs maintenance."""
        return self.persistence.observe(anomalies) + self.maintenance.observe(anomalies)

    def tick(self) -> None:
        """Settle alerts at the clock's "now" while no batch comes: a station that has gone
        silent is an alert while it is silent (live only; a replay's time moves with data)."""
        if self.detect and self.steps is None:
            self._settle(self.clock.now())

    def _silences(self, now: float) -> list[Anomaly]:
        """A no-data alert condition for each station whose every watched series is silent
        (variable ``*``), and for each silent series of a station that still reports others.
        Not an anomaly of the log: it holds while the silence lasts, as a rule does.

        What is told is the time since the series' newest reading; live, only of the series
        that have stopped (:meth:`_stopped`)."""
        if not self.detect or not self.no_data.enabled:
            return []
        ids = self.registry.ids
        station, column, silent_for, allowed = self.bank.silent_series(
            len(ids), now, self.no_data.factor, self.no_data.min_silence_min * 60.0
        )
        if self.steps is None and len(station):
            stopped = self._stopped(station, column, silent_for, allowed, now)
            station, column = station[stopped], column[stopped]
            silent_for, allowed = silent_for[stopped], allowed[stopped]
        if not len(station):
            return []
        watched = self.bank.watched_series(len(ids))
        silent_count = np.bincount(station, minlength=len(ids))
        whole = silent_count[station] == watched[station]
        found: dict[tuple[str, str], Anomaly] = {}
        for s, c, gone, limit, all_of_it in zip(
            station.tolist(),
            column.tolist(),
            silent_for.tolist(),
            allowed.tolist(),
            whole.tolist(),
            strict=True,
        ):
            variable = "*" if all_of_it else self.variables[c].name
            key = (ids[s], variable)
            if key in found and found[key].statistic <= gone:
                continue  # a station's silence is its most recent reading's
            found[key] = Anomaly(
                station_id=ids[s],
                variable=variable,
                value=gone,
                detector=NO_DATA,
                score=gone / (gone + limit),
                threshold=limit,
                observed_at=now,
                statistic=gone,
                quantity=gone,
                severity="advisory",
            )
        return list(found.values())

    def _stopped(
        self,
        station: np.ndarray,
        column: np.ndarray,
        silent_for: np.ndarray,
        allowed: np.ndarray,
        now: float,
    ) -> np.ndarray:
        """Of the series whose newest reading is older than ``allowed`` at ``now``, those that
        have stopped: nothing new of them has arrived for as long (:mod:`pipeline.arrivals`:
        a backfill being caught up, or a feed steadily late, has not stopped); or, of a
        station whose readings are up to date (its newest within the allowance of now),
        those its readings have gone on without for longer: the data already shows that
        sensor out, as it showed before readings had arrival times (one out when a backfill
        catches up is told then, not one allowance after; one out in the history and back
        since is no silence now). A replay's readings arrive at their own time, its clock's:
        there the newest reading's age says it all."""
        newest_of_station = self.bank.newest_reading(station)
        quiet = self.arrivals.quiet_for(station, column, now) > allowed
        current = now - newest_of_station <= allowed
        left_out = newest_of_station - (now - silent_for) > allowed
        return quiet | (current & left_out)

    def _detect_in_steps(self, fresh: ObservationFrame) -> list[Anomaly]:
        """A replay's detection: cell by cell in time order, settling alerts at each step
        boundary (:mod:`pipeline.stepped_time`), the clock following what is processed."""
        assert self.steps is not None and self.follow is not None
        anomalies: list[Anomaly] = []
        suspect = np.zeros(fresh.values.shape, dtype=bool)
        for rows in self.steps.cells(fresh):
            cell = fresh.take(rows)
            for boundary in self.steps.boundaries(
                float(cell.observed_at[0]), self.alerts.next_clear_due
            ):
                self.follow.advance_to(boundary)
                self._settle(boundary)
            result = self.bank.process(cell, self.registry.ids, elevations=self.registry.elevations)
            found = result.anomalies
            if result.suspect is not None:
                suspect[rows] = result.suspect
            found.sort(key=lambda a: (a.observed_at, a.station_id, a.variable, a.detector))
            self.follow.advance_to(float(cell.observed_at[-1]))
            told = self.events.group(found)
            for anomaly in told:
                tell_listeners(self.anomaly_listeners, anomaly)
            with self.alert_lock:
                for alert in self.alerts.observe(found + self._conditions(found)):
                    tell_listeners(self.alert_listeners, alert)
            anomalies += told
        fresh.suspect = suspect if suspect.any() else None
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
        received_at = self.wall.now()
        kept = delivery.rejections + [
            Rejection(
                received_at=received_at,
                source=obs.source,
                reason=reason,
                payload=observation_as_text(obs),
                station_id=obs.station_id,
            )
            for obs in delivery.every_observation()
        ]
        self.counters.rejected_messages += len(kept)
        self.intake.add(len(kept), len(kept), reason)
        self.rejection_kinds.add([reason] * len(kept))
        empty = ObservationFrame(
            np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros((0, len(self.variables)))
        )
        self._write(empty, empty, [], kept)

    def prune(self) -> None:
        """Apply the store's retention (not while batches wait to be stored: a failing store
        is not one to delete from)."""
        if self.store is None or self._unstored:
            return
        try:
            removed = self.store.prune(self.clock.now(), received_before=self.wall.now())
        except StoreError as exc:
            log.error("pruning the store failed: %s", exc)
            return
        if removed:
            log.info("retention: removed %d old rows", removed)

    def forget_idle(self) -> int:
        """Free the memory of stations silent for ``forget_after_s`` of observed time, and
        return how many: their detector state, recent history and duplicate check. Their rows
        stay in the store; one that speaks again starts a new warm-up, as it would after any
        gap this long. Never forgotten: configured stations, stations with an alert open, and
        any while batches wait for the store (they refer to stations by index)."""
        registry = self.registry
        if self.forget_after_s <= 0 or self._unstored or len(registry) <= registry.pinned:
            return 0
        n = len(registry)
        idle = np.ones(n, dtype=bool)
        known = min(n, self._last_time.shape[0])
        idle[:known] = self._last_time[:known] < self.clock.now() - self.forget_after_s
        idle[: registry.pinned] = False
        if not idle.any():
            return 0
        alerted = {alert.station_id for alert in self.alerts.alerts() if alert.is_open}
        for index in np.flatnonzero(idle).tolist():
            if registry.ids[index] in alerted:
                idle[index] = False
        kept = np.flatnonzero(~idle)
        forgotten = [registry.ids[i] for i in np.flatnonzero(idle).tolist()]
        if not forgotten:
            return 0
        with registry.lock:
            registry.keep(kept)
            self.bank.keep_stations(kept)
            self.history.keep_stations(kept)
            self._last_time = self._last_time[kept[kept < self._last_time.shape[0]]]
            self.arrivals.keep_stations(kept)
            self._store_keys = self._store_keys[kept[kept < self._store_keys.shape[0]]]
        self.persistence.forget(forgotten)
        self.maintenance.forget(forgotten)
        self.events.forget(forgotten)
        if self.store is not None:
            self.store.forget_stations(forgotten)
        log.info(
            "forgot %d stations silent for over %.0f s (kept in the store); %d kept in memory",
            len(forgotten),
            self.forget_after_s,
            len(registry),
        )
        return len(forgotten)

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
        rows = fresh if not len(late) else concat(fresh, late)
        self._unstored.append(UnstoredBatch(rows, len(fresh), anomalies, rejections))
        self.counters.waiting += len(rows)
        self.flush_unstored()

    @property
    def unstored(self) -> int:
        """Batches processed and waiting for the store."""
        return len(self._unstored)

    def flush_unstored(self) -> bool:
        """Write what waits for the store, oldest first; True once nothing waits. On failure
        everything stays queued (the caller holds back the bus: back-pressure)."""
        while self._unstored:
            batch = self._unstored[0]
            if not self._store_batch(batch):
                return False
            self._unstored.popleft()
            self.counters.waiting -= len(batch.rows)
        return True

    def _store_batch(self, batch: UnstoredBatch) -> bool:
        assert self.store is not None
        rows = batch.rows
        sources = rows.source if rows.source is not None else "unknown"
        try:
            missing = self.store.missing()
            if missing:  # writes would go on, to a file nobody will find: keep them waiting
                raise StoreError(missing)
            self._record_stations()
            started = time.perf_counter()
            stored = self.store.write(
                station_keys=self._store_keys[rows.station],
                observed_at=rows.observed_at,
                values=rows.values,
                source=sources,
                suspect=rows.suspect,
                anomalies=batch.anomalies,
                rejections=batch.rejections,
            )
            self.store_latency.add(time.perf_counter() - started)
        except StoreError as exc:
            self.counters.store_failures += 1
            problem = str(exc)
            damage = self.store.integrity() if "malformed" in problem else None
            problem = f"{problem} ({damage})" if damage else problem
            if self.store_error is None or not self.store_error.startswith(problem):
                log.error("store write failed (kept, retried): %s", problem)
            self.store_error = f"{problem}; {self.counters.waiting:,} observations waiting"
            return False
        self.store_error = None
        self.counters.stored += stored
        # Late readings the store already had are duplicates after all (e.g. a replayed batch).
        late = len(rows) - batch.fresh
        late_new = max(0, min(late, stored - batch.fresh))
        self.counters.late += late_new
        self.counters.duplicates += len(rows) - stored
        return True

    def watch_store(self) -> None:
        """Notice a store file deleted or replaced under the running process (SQLite goes on
        writing to the old file without an error)."""
        if self.store is None or self._unstored:
            return
        missing = self.store.missing()
        if missing and missing != self.store_error:
            log.error("%s", missing)
        self.store_error = missing

    def give_up_unstored(self, *, lost: bool) -> None:
        """At exit, what never reached the store: ``lost`` (counted and logged), or left
        ``waiting`` for a broker to deliver again."""
        observations = sum(len(batch.rows) for batch in self._unstored)
        rejections = sum(len(batch.rejections) for batch in self._unstored)
        if self._unstored:
            log.error(
                "%d observations and %d quarantine records could not be stored (%s): %s",
                observations,
                rejections,
                "lost" if lost else "the broker delivers them again",
                self.store_error,
            )
        self._unstored.clear()
        if lost:
            self.counters.waiting -= observations
            self.counters.lost += observations


def tell_listeners(listeners: list, item: object) -> None:
    """Each listener on its own: one that fails (an unwritable alert history) must neither
    keep the next (the notifier) from hearing nor lose the batch being processed."""
    for listener in listeners:
        try:
            listener(item)
        except Exception:
            log.exception("a listener failed on %r", item)
