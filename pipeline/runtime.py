"""The pipeline's public face: start, stop, a snapshot of what to show, and the few intents a
user has (change a threshold; acknowledge or silence an alert, through ``Pipeline.desk``).

The console, ``headless`` and the workers are thin shells around :class:`Pipeline`. It runs two
threads: a producer (source -> bus) and a consumer (bus -> :class:`Analytics`). Neither ever
raises into the caller: failures are logged, counted and shown in :meth:`Pipeline.snapshot`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from pipeline.alert_desk import LocalDesk, RelayedDesk
from pipeline.alerts import Alert
from pipeline.anomaly import Anomaly
from pipeline.batch_processing import Analytics
from pipeline.bus import Bus, BusClosed, Delivery
from pipeline.clock import Clock, LatestClock, ObservedClock, SystemClock
from pipeline.detectors import Threshold
from pipeline.health import Counters, HealthBoard, WorkerHealth
from pipeline.locked_db import SideTableError
from pipeline.notify.service import Notifications
from pipeline.observation import Observation
from pipeline.registry import StationRegistry
from pipeline.settings import (
    PipelineSettings,
)
from pipeline.sources import Source
from pipeline.stations import Station
from pipeline.store import Store, StoreError
from pipeline.variables import VariableSpec

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 600.0
STORE_RETRY_S = 1.0  # how often a failing store is tried again
STORE_CHECK_S = 5.0  # how often the store file is checked to still be there
REMIND_EVERY_S = 5.0  # how often unacknowledged warnings are looked at for reminders
PRODUCER = "producer"
CONSUMER = "consumer"
STORE = "store"
BUS = "bus"
INPUT = "input"


@dataclass(frozen=True, slots=True)
class StationFocus:
    """The station a console has selected, in the detail its panels and chart need: its
    recent history and each variable's latest rolling z-score."""

    station_id: str
    times: np.ndarray  # (n,)
    values: np.ndarray  # (n, V)
    zscores: np.ndarray  # (V,), NaN where none yet


@dataclass(slots=True)
class PipelineSnapshot:
    """Everything the console shows, copied so the UI thread can read it at leisure."""

    now: float
    source: str
    source_state: str
    bus: str
    bus_depth: int
    bus_state: str
    rate: float
    counters: Counters
    health: list[WorkerHealth]
    stations: list[Station]
    variables: tuple[VariableSpec, ...]
    latest_time: np.ndarray  # (n_stations,)
    latest_values: np.ndarray  # (n_stations, V)
    anomalies: list[Anomaly] = field(default_factory=list)  # newest first
    alerts: list[Alert] = field(default_factory=list)
    store_error: str | None = None
    # The newest readings of one variable per station (n_stations, points), when asked for.
    tail: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    # When asked for: the selected station's history, and every variable's thresholds.
    focus: StationFocus | None = None
    thresholds: dict[str, list[Threshold]] = field(default_factory=dict)


class Pipeline:
    def __init__(
        self,
        settings: PipelineSettings,
        *,
        clock: Clock,
        source: Source | None,
        bus: Bus,
        store: Store | None,
        recent_anomalies: int = 1_000,
        wall: Clock | None = None,
        detect: bool = True,
        source_label: str = "none",
        replayed: bool = False,
        stamped: bool = False,
    ) -> None:
        """``replayed``: the data is not "now" (a replay). ``clock`` is then an
        :class:`ObservedClock` that follows what is processed, the future-timestamp check
        counts from the later of it and the wall clock, and retention is off. ``stamped``: the
        producers own "now" (a worker, a watching console): ``clock`` is an
        :class:`ObservedClock` moved by the broker's timestamps of what was accepted, and the
        future-timestamp check counts from the later of it and the wall clock."""
        self.settings = settings
        self.clock = clock
        self.source = source
        self.source_label = source_label  # what the console calls the source when there is none
        observed = clock if isinstance(clock, ObservedClock) else None
        if (replayed or stamped) and observed is None:
            raise TypeError("a replayed or stamped pipeline's clock must be an ObservedClock")
        self.bus = bus
        self.store = store
        self.registry = StationRegistry(settings.stations)
        self.analytics = Analytics(
            variables=settings.variables,
            detectors=settings.detectors,
            rules=settings.rules,
            validation=settings.validation,
            clock=clock,
            registry=self.registry,
            store=store,
            wall=wall,
            detect=detect,
            clear_after_s=settings.clear_after_s,
            persistence=settings.persistence,
            no_data=settings.no_data,
            sensor_faults=settings.sensor_faults,
            follow=observed if replayed else None,
            future_clock=LatestClock(clock, wall or SystemClock()) if replayed or stamped else None,
            stamped=observed if stamped else None,
            max_stations=settings.limits.max_stations,
            forget_after_s=settings.limits.forget_after_s,
            history_mb=settings.limits.recent_history_mb,
        )
        self.notifications: Notifications | None = None
        # Where the user's acknowledgements and silences go: applied here, unless a watching
        # console's assembly relays them to the workers (see :mod:`pipeline.alert_desk`).
        self.desk: LocalDesk | RelayedDesk = LocalDesk.of(
            self.analytics, clock, settings.silence_s, history=None
        )
        self.health = HealthBoard()
        self._recent: deque[Anomaly] = deque(maxlen=recent_anomalies)
        self._recent_lock = threading.Lock()
        self.analytics.anomaly_listeners.append(self._remember)
        self._stop = threading.Event()
        self._producer_done = threading.Event()
        self._threads: list[threading.Thread] = []
        self._held: deque[Delivery] = deque()  # processed, not stored yet: not acknowledged
        self._held_observations = 0  # their observations (read from another thread)
        self._consumer_failing = False
        # Retention counts from the pipeline's "now"; a replay's is the replayed time, by
        # which a replay of last year would delete what it has just stored (see README).
        self.prune_store = not replayed

    # -- lifecycle -------------------------------------------------------------------------

    def attach_notifications(self, notifications: Notifications) -> None:
        """Record alert transitions and notify people (see :mod:`pipeline.notify`); the desk
        records the stations' silences in the alert history too, so they hold after a restart."""
        self.notifications = notifications
        alerts, history = self.analytics.alerts, notifications.history
        self.desk = LocalDesk.of(self.analytics, self.clock, self.settings.silence_s, history)
        try:
            alerts.continue_ids_after(history.last_alert_id())
            since = self.clock.now() - self.settings.restore_s
            alerts.reinstate(history.recent(alerts.keep_cleared, since), history.station_silences())
        except SideTableError as exc:  # a damaged history must not stop the pipeline
            log.error("%s", exc)
            self.health.report(STORE, "failed", str(exc))
        self.analytics.alert_listeners.extend(notifications.listeners())

    def start(self) -> None:
        if self.notifications is not None:
            self.notifications.start()
        try:
            since = self.clock.now() - self.settings.restore_s
            self.analytics.restore(since)
            self._recall_anomalies(since)
        except Exception as exc:  # a damaged store must not stop the pipeline
            log.exception("restoring history failed")
            self.health.report(STORE, "failed", f"restore failed: {exc}")
        workers = [(CONSUMER, self._consume)]
        if self.source is None:  # a consumer-only pipeline (a worker fed by a broker)
            self._producer_done.set()
        else:
            workers.insert(0, (PRODUCER, self._produce))
        for name, target in workers:
            thread = threading.Thread(
                target=self._guard, args=(name, target), name=name, daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop producing, process what is already on the bus, flush and close the store."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        if self.source is not None:
            self.source.close()
        if self.analytics.unstored and self.analytics.flush_unstored():
            self._ack_held()
        if self.analytics.unstored:
            # Not acknowledged: a broker hands them out again (they stay "waiting"); an
            # in-process bus cannot, so they are lost, and said to be.
            self.analytics.give_up_unstored(lost=not self.bus.redelivers)
        self.bus.close()
        if self.notifications is not None:
            self.notifications.stop()
        if self.store is not None:
            try:
                self.store.close()
            except StoreError as exc:  # a full disk at the last checkpoint: said, not raised
                log.error("%s", exc)
                self.analytics.store_error = str(exc)

    def finished(self) -> bool:
        """Everything a finite source had is processed and stored, or can never be: the
        store file was deleted or replaced, so what waits for it is lost (counted at stop)
        rather than waited for until someone presses Ctrl-C."""
        if not (self.source is not None and self.source.exhausted and self._producer_done.is_set()):
            return False
        if self.bus.depth() > self._held_observations:  # not all read (held: waits for the store)
            return False
        if not self.analytics.unstored:
            return True
        store = self.analytics.store
        return store is not None and store.missing() is not None

    def _guard(self, name: str, target) -> None:
        try:
            target()
            self.health.report(name, "stopped", "")
        except Exception as exc:
            log.exception("%s worker failed", name)
            self.health.report(name, "failed", f"{type(exc).__name__}: {exc}")
        finally:
            if name == PRODUCER:
                self._producer_done.set()

    def _produce(self) -> None:
        assert self.source is not None
        while not self._stop.is_set():
            try:
                batch = self.source.poll()
            except Exception as exc:  # a source must not take the producer down
                log.exception("source %s failed", self.source.name)
                self.health.report(PRODUCER, "failing", f"{type(exc).__name__}: {exc}")
                self._stop.wait(1.0)
                continue
            rejected = self.source.drain_rejections()
            if rejected:
                self.analytics.defer(rejected)
            while batch and not self._stop.is_set():
                if self.bus.publish(batch, timeout=0.5):
                    break
                self.health.beat(PRODUCER, "waiting: bus full")
            self.health.beat(PRODUCER, self.source.state())
            if self.source.exhausted:
                return
            self._stop.wait(self.source.poll_interval_s)

    def _consume(self) -> None:
        batch_size = self.settings.bus.batch_size
        next_prune = next_store_check = next_remind = retry_at = 0.0
        while True:
            # Stop only once asked to, the producer has finished, and the bus is drained; a
            # consumer fed by a broker stops after its current batch (the broker keeps the rest).
            if self._stop.is_set() and self.source is None:
                return
            draining = self._stop.is_set() and self._producer_done.is_set()
            now = time.monotonic()
            if self.analytics.unstored and now >= retry_at:
                retry_at = now + STORE_RETRY_S
                if self.analytics.flush_unstored():
                    self._ack_held()
            if self.analytics.counters.waiting >= self.settings.bus.capacity:
                # The store takes nothing: read no more (a broker keeps it; a producer waits).
                if draining:
                    return
                self._stop.wait(0.2)
                continue
            try:
                delivery = self.bus.consume(batch_size, timeout=0.2)
            except BusClosed:
                return
            if not delivery.empty:
                self.process(delivery)
            else:
                self.analytics.flush_deferred()
                if draining:
                    return
                self.analytics.tick()
            if now >= next_prune:
                next_prune = now + PRUNE_EVERY_S
                if self.prune_store:
                    self.analytics.prune()
            if now >= next_store_check:
                next_store_check = now + STORE_CHECK_S
                self.analytics.watch_store()
            notifier = self.notifications.notifier if self.notifications is not None else None
            if now >= next_remind and notifier is not None and notifier.reminds:
                next_remind = now + REMIND_EVERY_S
                notifier.remind(self.analytics.alerts.alerts())
            if not self._consumer_failing:
                self.health.beat(CONSUMER)

    def process(self, delivery: Delivery) -> None:
        """Process one delivery; acknowledge it once it is stored (with every delivery held
        before it, in order). A failure confines itself to the stations whose readings caused
        it: their messages are quarantined, the others' processed. The consumer thread's step,
        public for callers that consume themselves (the Kafka benchmark)."""
        counted = replace(self.analytics.counters)
        try:
            self.analytics.process(delivery)
            self._consumer_failing = False
        except Exception as exc:
            log.exception("processing a batch of %d failed", delivery.count)
            self._consumer_failing = True
            self.health.report(CONSUMER, "failing", f"{type(exc).__name__}: {exc}")
            self.analytics.counters = counted  # counted again as it is processed piecemeal
            self._process_by_station(delivery, f"{type(exc).__name__}: {exc}")
        for command in delivery.commands:
            try:
                self.desk.obey(command)
            except Exception:  # one command must not take the consumer down
                log.exception("applying %s failed", command)
        self._held.append(delivery)
        self._held_observations += delivery.count
        if not self.analytics.unstored:
            self._ack_held()

    def _process_by_station(self, delivery: Delivery, error: str) -> None:
        """A batch that failed, again one station at a time: one station's bad readings must
        not keep every other station's from being analysed and stored."""
        by_station: dict[str, list[Observation]] = {}
        observations = delivery.every_observation()
        for observation in observations:
            by_station.setdefault(observation.station_id, []).append(observation)
        parts = [Delivery([], delivery.rejections)] + [Delivery(o) for o in by_station.values()]
        for part in parts if len(by_station) > 1 else parts[:1]:
            try:
                self.analytics.process(part)
            except Exception:
                log.exception("processing %d observations failed again", len(part.observations))
                self.analytics.quarantine(part, f"processing failed: {error}")
        if len(by_station) <= 1 and observations:
            self.analytics.quarantine(Delivery(observations), f"processing failed: {error}")

    def _ack_held(self) -> None:
        while self._held:
            delivery = self._held.popleft()
            self.bus.ack(delivery, kept=True)
            self._held_observations -= delivery.count

    def process_pending(self) -> int:
        """Consume and process what is on the bus now, in the caller's thread (tests, bench)."""
        total = 0
        while True:
            delivery = self.bus.consume(self.settings.bus.batch_size, timeout=0)
            if delivery.empty:
                return total
            self.process(delivery)
            total += delivery.count

    # -- what to show ----------------------------------------------------------------------

    def _recall_anomalies(self, since: float) -> None:
        """The anomaly log starts with what the store kept, not empty after a restart."""
        if self.store is None:
            return
        stored = self.store.anomalies(since=since, limit=self._recent.maxlen or 0)
        with self._recent_lock:
            if not self._recent:
                self._recent.extend(stored)  # newest first, as kept

    def _remember(self, anomaly: Anomaly) -> None:
        with self._recent_lock:
            self._recent.appendleft(anomaly)

    def snapshot(
        self, tail_of: str | None = None, points: int = 0, focus: str | None = None
    ) -> PipelineSnapshot:
        """``tail_of``: also the newest ``points`` readings of this variable per station.
        ``focus``: also that station's :class:`StationFocus` and the thresholds in force (a
        console's whole tick is one call)."""
        analytics = self.analytics
        names = [v.name for v in self.settings.variables]
        with self.registry.lock:  # indices and the history they index, taken together
            stations = list(self.registry.stations)
            latest_time, latest_values = analytics.history.latest()
            tail = (
                analytics.history.tail(names.index(tail_of), points)
                if tail_of in names and points > 0
                else np.empty((len(stations), 0))
            )
        station_focus = None
        thresholds = {}
        if focus is not None:
            times, values = self.recent_series(focus)
            station_focus = StationFocus(focus, times, values, self.latest_zscores(focus))
            thresholds = {name: self.thresholds(name) for name in names}
        with self._recent_lock:
            anomalies = list(self._recent)
        health = self.health_now()
        return PipelineSnapshot(
            now=self.clock.now(),
            source=self.source.name if self.source else self.source_label,
            source_state=self.source.state() if self.source else "",
            bus=self.bus.name,
            bus_depth=self.bus.depth(),
            bus_state=self.bus.state(),
            rate=analytics.rate.rate(),
            counters=Counters(**{f: getattr(analytics.counters, f) for f in Counters.__slots__}),
            health=health,
            stations=stations,
            variables=self.settings.variables,
            latest_time=latest_time,
            latest_values=latest_values,
            anomalies=anomalies,
            alerts=analytics.alerts.alerts(),
            store_error=analytics.store_error,
            tail=tail,
            focus=station_focus,
            thresholds=thresholds,
        )

    def health_now(self) -> list[WorkerHealth]:
        """Each worker's health, and the store's, the input's, the notifiers' and the bus's."""
        analytics = self.analytics
        health = self.health.snapshot()
        if analytics.store_error:
            health.append(WorkerHealth(STORE, "failing", analytics.store_error))
        intake = analytics.intake.problem()
        if intake:
            health.append(WorkerHealth(INPUT, "failing", intake))
        if self.notifications is not None:
            health += [WorkerHealth("notify", "failing", p) for p in self.notifications.problems()]
        bus_problem = self.bus.problem()
        if bus_problem:
            health.append(WorkerHealth(BUS, "failing", bus_problem))
        return health

    def problems(self) -> list[str]:
        """What is wrong now, one line each ("store failing: ..."); empty while healthy."""
        return [
            f"{w.name} {w.state}: {w.detail}" if w.detail else f"{w.name} {w.state}"
            for w in self.health_now()
            if w.state in ("failed", "stalled", "failing")
        ]

    def recent_series(self, station_id: str) -> tuple[np.ndarray, np.ndarray]:
        with self.registry.lock:
            index = self.registry.get(station_id)
            if index is None:
                return np.empty(0), np.empty((0, len(self.settings.variables)))
            return self.analytics.history.series(index)

    def latest_zscores(self, station_id: str) -> np.ndarray:
        with self.registry.lock:
            index = self.registry.get(station_id)
            if index is None:
                return np.full(len(self.settings.variables), np.nan)
            return self.analytics.bank.latest_zscore(index)

    # -- intents ---------------------------------------------------------------------------

    def thresholds(self, variable: str) -> list[Threshold]:
        return self.analytics.bank.thresholds(variable)

    def set_threshold(self, detector: str, parameter: str, variable: str, value: float) -> None:
        """Applies from the next observation. Raises ValueError for an unknown or bad value."""
        self.analytics.bank.set_threshold(detector, parameter, variable, value)

    def subscribe(self, *, anomalies=None, alerts=None) -> None:
        """Call back from the consumer thread for each anomaly / alert change (keep it quick)."""
        if anomalies is not None:
            self.analytics.anomaly_listeners.append(anomalies)
        if alerts is not None:
            self.analytics.alert_listeners.append(alerts)
