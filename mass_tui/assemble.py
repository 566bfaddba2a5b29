"""Build a running pipeline from loaded settings: the one place that picks clock, source, bus
and store, shared by the console and ``headless``.

confluent-kafka and Apprise are imported where a setting asks for them: an embedded console
starts without loading either (a tenth of a second of its start-up).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mass_tui.settings_layers import ConfigError, LoadedSettings, pipeline_settings
from pipeline.alert_desk import RelayedDesk
from pipeline.alert_history import AlertHistory
from pipeline.bus import MemoryBus
from pipeline.clock import AcceleratedClock, Clock, MonotonicClock, ObservedClock, SystemClock
from pipeline.locked_db import SideTableError
from pipeline.notify.channels import Channel, EmailChannel, WebhookChannel
from pipeline.notify.dispatcher import Dispatcher
from pipeline.notify.notifier import AlertNotifier, NotifyRules
from pipeline.notify.outbox import Outbox
from pipeline.notify.service import Notifications
from pipeline.runtime import Pipeline
from pipeline.settings import CsvSettings
from pipeline.simulation.station_simulator import StationSimulator
from pipeline.sources import Source
from pipeline.sources.open_meteo import OpenMeteoSource
from pipeline.sources.openweathermap import OpenWeatherMapSource
from pipeline.sources.replay import ReplaySource
from pipeline.sources.replay_csv import CsvColumns, MissingMarkers, TimeParser, time_zone
from pipeline.sources.simulated import SimulatorSource
from pipeline.stations import Station, elevation
from pipeline.store import Store
from pipeline.times import parse_instant
from pipeline.units import InputUnit, input_unit
from pipeline.validation import station_id_problem
from pipeline.variables import VariableSpec

if TYPE_CHECKING:
    import numpy as np

    from pipeline.kafka.client import KafkaConnection
    from pipeline.kafka.publisher import ObservationPublisher
    from pipeline.kafka.watch_bus import WatchBus
    from pipeline.kafka.worker_bus import WorkerBus

log = logging.getLogger(__name__)


def open_store(loaded: LoadedSettings) -> Store | None:
    """The SQLite store, or None when storage is off. Raises StoreError when it cannot open."""
    storage = loaded.settings.storage
    if not storage.enabled:
        return None
    return Store(
        loaded.database_path,
        loaded.variable_names,
        retention_s=storage.retention_days * 86_400,
    )


def simulation_start(loaded: LoadedSettings, store: Store | None, wall: Clock) -> float:
    """Where simulated time starts: the configured instant, else now — or, when an earlier
    (accelerated) run left the store ahead of the wall clock, right after its last reading, so
    restarting never writes time backwards."""
    configured = loaded.settings.simulator.start
    if configured:
        try:
            return parse_instant(configured, naive_is_utc=False)
        except ValueError as exc:
            raise ConfigError(f"config error: simulator.start: {exc}") from None
    start = wall.now()
    latest = store.latest_observed_at() if store is not None else None
    return max(start, latest) if latest is not None else start


def first_reading(start: float, backfill_s: float, store: Store | None) -> float:
    """The simulated stations have been running before we looked: the first poll produces the
    last ``backfill_s`` of readings at once, so charts and detectors start full instead of
    empty — or, when the store already holds recent readings, continues right after them."""
    latest = store.latest_observed_at() if store is not None else None
    earliest = start - backfill_s
    return earliest if latest is None else max(earliest, latest + 1e-6)


def simulated_source(
    loaded: LoadedSettings, store: Store | None, wall: Clock
) -> tuple[Source, Clock, list[Station]]:
    sim = loaded.settings.simulator
    start = simulation_start(loaded, store, wall)
    clock = AcceleratedClock(start, sim.time_scale, wall)
    stations = StationSimulator.stations_for(sim, loaded.stations)
    simulator = StationSimulator(stations, loaded.variables, sim)
    if sim.demo_front:
        simulator.schedule_front(stations[0].station_id, start + 600, depth_hpa=8.0, fall_hours=2.5)
    source = SimulatorSource(
        simulator,
        stations,
        loaded.variable_names,
        clock,
        interval_s=sim.time_scale / sim.rate_per_station,
        start=first_reading(start, sim.backfill_hours * 3600, store),
    )
    return source, clock, stations


def openweathermap_key(environ: Mapping[str, str]) -> str:
    """The key comes from the environment or .env only (``API_KEY`` was the original design's
    name), never from config.toml."""
    key = environ.get("OPENWEATHER_API_KEY") or environ.get("API_KEY")
    if not key:
        raise ConfigError(
            "config error: source openweathermap needs OPENWEATHER_API_KEY (or API_KEY) in the "
            "environment or .env"
        )
    return key


def build_source(
    loaded: LoadedSettings, store: Store | None, wall: Clock, environ: Mapping[str, str]
) -> tuple[Source, Clock, list[Station]]:
    """The configured source, the clock the pipeline reads observed time from, the stations."""
    settings = loaded.settings
    kind = settings.source.kind
    if kind == "simulator":
        return simulated_source(loaded, store, wall)
    stations = list(loaded.stations)
    if kind == "open-meteo":
        source: Source = OpenMeteoSource(
            stations,
            api_base=settings.weather.api_base,
            poll_seconds=settings.source.poll_seconds,
            clock=MonotonicClock(),
            timeout_s=settings.source.timeout_s,
        )
        return source, wall, stations
    if kind == "openweathermap":
        source = OpenWeatherMapSource(
            stations,
            api_key=openweathermap_key(environ),
            api_base=settings.weather.openweathermap_base,
            poll_seconds=settings.source.poll_seconds,
            clock=MonotonicClock(),
            timeout_s=settings.source.timeout_s,
        )
        return source, wall, stations
    replay = settings.source.replay
    observed = ObservedClock(0.0)
    fixed = csv_station(replay.csv)
    source = ReplaySource(
        Path(replay.path).expanduser() if replay.path else None,
        clock=MonotonicClock(),
        pace=replay.pace,
        speed=replay.speed,
        loop=replay.loop,
        csv_columns=csv_columns(replay.csv, loaded.variables),
        stations=fixed or stations,
    )
    return source, observed, fixed


def csv_columns(csv: CsvSettings, variables: Sequence[VariableSpec]) -> CsvColumns:
    """The CSV mapping, its units resolved against each variable's canonical unit. Raises
    ValueError for an unknown unit or time zone, or a unit of another quantity."""
    canonical = {v.name: v.unit for v in variables}
    for variable in csv.variables:  # every reading of the column would be rejected
        if variable not in canonical:
            raise ValueError(
                f"csv.variables.{variable}: no variable {variable!r} (declare it under "
                f"[variables.{variable}], or map one of: {', '.join(canonical)})"
            )
    if not csv.station_column:  # one station for the whole file: every row would be refused
        problem = station_id_problem(csv.station_id)
        if problem is not None:
            raise ValueError(f"csv.station_id: {problem} (or name a station_column)")
    if csv.time_format:
        try:  # a bad directive would fail every row, one by one
            sample = datetime(2001, 2, 3, 4, 5, 6).strftime(csv.time_format)
            datetime.strptime(sample, csv.time_format)
        except ValueError as exc:
            raise ValueError(f"csv.time_format: {exc}") from None
    units: dict[str, InputUnit] = {}
    for variable, label in csv.units.items():
        if variable not in csv.variables:
            raise ValueError(f"csv.units.{variable}: {variable} is not in csv.variables")
        if variable not in canonical:
            raise ValueError(f"csv.units.{variable}: no variable {variable!r}")
        try:
            units[variable] = input_unit(label, canonical[variable])
        except ValueError as exc:
            raise ValueError(f"csv.units.{variable}: {exc}") from None
    if csv.data_line and csv.data_line <= csv.header_line:
        raise ValueError("csv.data_line: must be after csv.header_line")
    try:
        zone = time_zone(csv.timezone)
    except ValueError as exc:
        raise ValueError(f"csv.timezone: {exc}") from None
    return CsvColumns(
        time=csv.time_column,
        date=csv.date_column or None,
        station=csv.station_column or None,
        station_id=csv.station_id,
        station_name=csv.station_name_column or None,
        latitude=csv.latitude_column or None,
        longitude=csv.longitude_column or None,
        variables=dict(csv.variables),
        units=units,
        times=TimeParser(csv.time_format or None, zone),
        missing=MissingMarkers.of(csv.missing),
        header_line=csv.header_line,
        data_line=csv.data_line,
    )


def csv_station(csv: CsvSettings) -> list[Station]:
    """The one station of a file placed by ``csv.latitude``/``longitude``, or none."""
    if csv.latitude is None and csv.longitude is None:
        return []
    if csv.latitude is None or csv.longitude is None:
        raise ValueError("csv.latitude and csv.longitude: give both")
    if csv.station_column:
        raise ValueError(
            "csv.latitude/longitude place a file of one station; with csv.station_column "
            "the stations are placed by [[stations]] or csv.latitude_column/longitude_column"
        )
    return [
        Station(
            csv.station_id, csv.station_id, csv.latitude, csv.longitude, elevation(csv.elevation_m)
        )
    ]


def notification_channels(loaded: LoadedSettings, environ: Mapping[str, str]) -> list[Channel]:
    """The configured channels; secrets (``SMTP_PASS``, ``ALERT_WEBHOOK_TOKEN``) come from the
    environment or .env only. Raises ConfigError for an Apprise URL Apprise cannot use."""
    alerts = loaded.settings.alerts
    channels: list[Channel] = []
    if alerts.email.host and alerts.email.to:
        channels.append(EmailChannel(alerts.email, environ.get("SMTP_PASS", "")))
    if alerts.webhook.url:
        channels.append(WebhookChannel(alerts.webhook, environ.get("ALERT_WEBHOOK_TOKEN", "")))
    if alerts.apprise.urls:
        from pipeline.notify.apprise_channel import AppriseChannel, AppriseUrlError

        try:
            channels.append(AppriseChannel(list(alerts.apprise.urls)))
        except AppriseUrlError as exc:
            raise ConfigError(f"config error: {exc}") from None
    return channels


def attach_notifications(
    loaded: LoadedSettings,
    pipeline: Pipeline,
    environ: Mapping[str, str],
    wall: Clock,
    channels: list[Channel] | None = None,
) -> Notifications:
    """Alert history and notifications next to the store (in its file). Raises ConfigError
    when that file cannot be opened, or a channel is misconfigured."""
    alerts = loaded.settings.alerts
    channels = notification_channels(loaded, environ) if channels is None else channels
    names = loaded.variable_names
    units = {v.name: v.unit for v in loaded.variables}

    def station_name(station_id: str) -> str:
        station = pipeline.registry.station(station_id)
        return station.name if station is not None else station_id

    def trend(station_id: str, variable: str) -> list[tuple[float, float]]:
        times, values = pipeline.recent_series(station_id)
        column: np.ndarray | list[float] = (
            values[-6:, names.index(variable)] if variable in names else []
        )
        return [(float(t), float(v)) for t, v in zip(times[-6:], column, strict=False)]

    try:
        outbox = Outbox(loaded.database_path)
        history = AlertHistory(loaded.database_path)
    except SideTableError as exc:
        raise ConfigError(str(exc)) from None
    dispatcher = Dispatcher(outbox, channels, wall=wall.now)
    notifier = AlertNotifier(
        NotifyRules(
            alerts.enabled,
            alerts.cooldown_min * 60,
            alerts.outbox_expire_hours * 3600,
            resolved=alerts.resolved,
            remind_s=alerts.remind_min * 60,
        ),
        outbox,
        [c.name for c in channels],
        clock=pipeline.clock.now,
        wall=wall.now,
        station_name=station_name,
        unit=lambda variable: units.get(variable, ""),
        trend=trend,
        wake=dispatcher.wake,
    )
    notifications = Notifications(history, notifier, outbox, dispatcher)
    pipeline.attach_notifications(notifications)
    return notifications


def kafka_connection(loaded: LoadedSettings, environ: Mapping[str, str]) -> KafkaConnection:
    from pipeline.kafka.client import KafkaConnection

    return KafkaConnection.from_environment(loaded.settings.kafka, environ)


def worker_bus(
    loaded: LoadedSettings,
    environ: Mapping[str, str],
    publisher: ObservationPublisher | None = None,
) -> WorkerBus:
    """A worker's bus; with ``publisher``, the console's ``--bus kafka`` (producer and worker
    in one process, one watch on the broker)."""
    from pipeline.kafka.worker_bus import WorkerBus

    connection = kafka_connection(loaded, environ)
    watch = publisher.watch if publisher is not None else None
    return WorkerBus(connection, variables=loaded.variable_names, publisher=publisher, watch=watch)


def watch_bus(loaded: LoadedSettings, environ: Mapping[str, str]) -> WatchBus:
    """A watching console's bus (see :func:`build_watcher`)."""
    from pipeline.kafka.watch_bus import WatchBus

    return WatchBus(kafka_connection(loaded, environ), variables=loaded.variable_names)


def spool_path(loaded: LoadedSettings) -> Path:
    return loaded.data_dir / "spool" / "producer.sqlite3"


def open_publisher(
    loaded: LoadedSettings, environ: Mapping[str, str], clock: Clock
) -> ObservationPublisher:
    """A started observation publisher with its spool in the data directory. Raises
    ConfigError when the spool cannot be opened (another producer has it, unwritable)."""
    from pipeline.kafka.client import BrokerWatch
    from pipeline.kafka.publisher import ObservationPublisher
    from pipeline.kafka.spool import SpoolError

    connection = kafka_connection(loaded, environ)
    watch = BrokerWatch(connection.settings.bootstrap_servers)
    try:
        publisher = ObservationPublisher(connection, spool_path(loaded), watch, clock)
    except SpoolError as exc:
        raise ConfigError(str(exc)) from None
    publisher.start()
    return publisher


def build_pipeline(
    loaded: LoadedSettings,
    *,
    store: Store | None,
    wall: Clock | None = None,
    environ: Mapping[str, str] | None = None,
) -> Pipeline:
    """The console's and ``headless``'s pipeline: source, bus (in-process, or through the
    broker when ``bus.kind = "kafka"``), analytics and store in this process."""
    wall = wall or SystemClock()
    environ = os.environ if environ is None else environ
    try:
        source, clock, stations = build_source(loaded, store, wall, environ)
    except ValueError as exc:  # a source refusing its settings (no stations, bad URL...)
        raise ConfigError(f"config error: source {loaded.settings.source.kind}: {exc}") from None
    replayed = isinstance(clock, ObservedClock)  # a replay: the pipeline's clock is the data's
    if loaded.settings.bus.kind == "kafka":
        publisher = open_publisher(loaded, environ, clock)
        bus = worker_bus(loaded, environ, publisher)
        pipeline = Pipeline(
            pipeline_settings(loaded, stations),
            clock=clock,
            source=source,
            bus=bus,
            store=store,
            replayed=replayed,
        )
        pipeline.subscribe(anomalies=bus.publish_anomaly, alerts=bus.publish_alert)
    else:
        pipeline = Pipeline(
            pipeline_settings(loaded, stations),
            clock=clock,
            source=source,
            bus=MemoryBus(loaded.settings.bus.capacity),
            store=store,
            replayed=replayed,
        )
    attach_notifications_or_say(loaded, pipeline, environ, wall)
    return pipeline


def attach_notifications_or_say(
    loaded: LoadedSettings, pipeline: Pipeline, environ: Mapping[str, str], wall: Clock
) -> None:
    """Alerts still show without notifications: a file that cannot be opened is a problem in
    the health line and the log, not a refusal to start. A misconfigured channel is (a
    ConfigError): running would mean nobody is told."""
    channels = notification_channels(loaded, environ)
    try:
        attach_notifications(loaded, pipeline, environ, wall, channels)
    except ConfigError as exc:
        log.error("running without alert history and notifications: %s", exc)
        pipeline.health.report("notify", "failed", f"no notifications: {exc}")


def build_worker(
    loaded: LoadedSettings, *, store: Store | None, environ: Mapping[str, str] | None = None
) -> tuple[Pipeline, WorkerBus]:
    """A consumer-group member: observations from the broker, anomalies and alerts back to it.

    Its clock is the observed time of what it consumes (the producers own "now"), starting
    from the newest reading in its store so restoring and retention work from there."""
    environ = os.environ if environ is None else environ
    bus = worker_bus(loaded, environ)
    pipeline = worker_pipeline(loaded, bus, store)
    attach_notifications_or_say(loaded, pipeline, environ, SystemClock())
    return pipeline, bus


def worker_pipeline(loaded: LoadedSettings, bus: WorkerBus, store: Store | None) -> Pipeline:
    """The analytics of a worker fed by ``bus``, publishing its anomalies and alerts back to
    it; its clock follows the producers, starting after the newest reading in its store."""
    latest = store.latest_observed_at() if store is not None else None
    clock = ObservedClock(latest or 0.0)
    pipeline = Pipeline(
        pipeline_settings(loaded, []),
        clock=clock,
        source=None,
        bus=bus,
        store=store,
        stamped=True,
    )
    pipeline.subscribe(anomalies=bus.publish_anomaly, alerts=bus.publish_alert)
    return pipeline


def build_watcher(loaded: LoadedSettings, environ: Mapping[str, str] | None = None) -> Pipeline:
    """A console attached to a running system: it shows observations and the workers'
    anomalies and alerts, finds none itself and stores nothing (the workers do); its
    acknowledgements and silences go to the workers."""
    environ = os.environ if environ is None else environ
    bus = watch_bus(loaded, environ)
    clock = ObservedClock(0.0)
    pipeline = Pipeline(
        pipeline_settings(loaded, []),
        clock=clock,
        source=None,
        bus=bus,
        store=None,
        detect=False,
        stamped=True,
        source_label=f"topic {loaded.settings.kafka.topic}",
    )
    alerts = pipeline.analytics.alerts
    pipeline.desk = RelayedDesk(alerts, clock, pipeline.settings.silence_s, bus.send_command)
    return pipeline
