"""Typed settings of the pipeline, with their defaults.

These are plain data: :mod:`mass_tui.settings_layers` is the one place that reads files,
environment and flags into them (and writes threshold changes back). Constraints (``Meta``)
make msgspec reject a negative window or a wrong type with the key's path, which the loader
turns into a one-line error naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

import msgspec

from pipeline.stations import Station
from pipeline.variables import VariableKind, VariableSpec

Positive = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
Fraction = Annotated[float, msgspec.Meta(gt=0, le=1)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base for settings tables: an unknown key is an error, not silently ignored."""


class StationSettings(Strict):
    name: str
    latitude: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    longitude: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    id: str = ""
    elevation_m: float | None = None  # unknown: station pressure is checked against 300-1100 hPa
    timezone: str = ""  # its local time (the console's T): an IANA name; "": from the position


class VariableSettings(Strict):
    """A variable beyond the standard ones, or an override of a standard one's range."""

    unit: str = ""
    label: str = ""
    short: str = ""
    minimum: float | None = None
    maximum: float | None = None
    resolution: Positive | None = None
    kind: VariableKind | None = None  # see pipeline.variables.VariableKind
    overshoot: NonNegative | None = None  # readings this far past the maximum are the maximum


class SimulatorSettings(Strict):
    seed: int = 42
    rate_per_station: Positive = 1.0
    time_scale: Positive = 60.0
    interval_s: Positive = 60.0
    extra_stations: Annotated[int, msgspec.Meta(ge=0)] = 0
    environmental: bool = False
    fronts_per_day: NonNegative = 0.5
    windy_spells_per_day: NonNegative = 0.5
    faults_per_day: NonNegative = 2.0
    start: str = ""
    backfill_hours: NonNegative = 3.0
    demo_front: bool = False


class ZScoreSettings(Strict):
    enabled: bool = True
    window: PositiveInt = 60
    threshold: Positive = 6.0
    thresholds: dict[str, Positive] = {}


class EwmaSettings(Strict):
    enabled: bool = True
    lam: Fraction = 0.2
    limit: Positive = 5.0
    baseline_lam: Fraction = 0.05
    warmup: PositiveInt = 60
    thresholds: dict[str, Positive] = {}


class CusumSettings(Strict):
    enabled: bool = True
    k: NonNegative = 1.5
    h: Positive = 12.0
    thresholds: dict[str, Positive] = {}


class StuckSettings(Strict):
    enabled: bool = True
    samples: PositiveInt = 15
    min_hours: NonNegative = 24.0  # and frozen for at least this long
    # A bounded variable resting at its bound (humidity at 100 % in fog, wind at 0 m/s in a
    # calm), and a vane while the wind is calm, is frozen only after this long: fog and calm
    # last hours, a wet humidity sensor or a seized anemometer days.
    bound_hours: NonNegative = 72.0
    thresholds: dict[str, Positive] = {}


class GapSettings(Strict):
    enabled: bool = True
    factor: Annotated[float, msgspec.Meta(gt=1)] = 4.0


class OrderedPair(Strict):
    """Two variables whose readings must stay in order: ``lower`` at most ``upper`` plus
    ``tolerance`` (in their unit)."""

    lower: str
    upper: str
    tolerance: NonNegative = 0.0


class QcSettings(Strict):
    """Quality control before the detectors (see pipeline.detectors.quality)."""

    enabled: bool = True
    # The largest believable change between two readings up to an hour apart, per variable in
    # its canonical unit (more for longer spacing: times the square root of the hours). None
    # for variables not listed: humidity, wind direction, gusts and rain move too freely.
    step_limits: dict[str, Positive] = msgspec.field(
        default_factory=lambda: {
            "temperature_c": 12.0,
            "pressure_hpa": 10.0,
            "pressure_msl_hpa": 10.0,
            "wind_speed_ms": 30.0,
        }
    )
    # Closer together, the limit shrinks with the square root of the spacing too, but never
    # below these: the WMO step test's limits between 1-minute values (Zahumenský 2004:
    # 3 degC, 20 m/s), pressure at 2 hPa so that a whole-hPa barometer's rounding passes.
    # Real 1-minute records (Payerne in June, with thunderstorms; Alamosa; Tucson) moved at
    # most 1.2 degC, 1 hPa and 3.2 m/s from one minute to the next.
    step_floors: dict[str, Positive] = msgspec.field(
        default_factory=lambda: {
            "temperature_c": 3.0,
            "pressure_hpa": 2.0,
            "pressure_msl_hpa": 2.0,
            "wind_speed_ms": 20.0,
        }
    )
    # Pairs out of order are inconsistent: a gust below the mean wind (their averaging periods
    # differ, hence the tolerance), a dew point above the air temperature (declare the
    # variable to use it). Pairs naming an undeclared variable are skipped.
    ordered: list[OrderedPair] = msgspec.field(
        default_factory=lambda: [
            OrderedPair(lower="wind_speed_ms", upper="wind_gust_ms", tolerance=1.0),
            OrderedPair(lower="dew_point_c", upper="temperature_c", tolerance=0.5),
        ]
    )
    confirm: PositiveInt = 3  # readings together at a new level that make it a sensor step
    max_gap_hours: Positive = 6.0  # after a longer silence any level is believable


class DiurnalSettings(Strict):
    """The daily cycle each series learns (see pipeline.detectors.diurnal)."""

    enabled: bool = True
    memory_days: Annotated[float, msgspec.Meta(ge=1)] = 7.0  # how many days each hour averages


class DetectorSettings(Strict):
    max_gap_s: Positive = 3 * 3600.0
    # Alarms of one series and kind this close together are one event: one row of the log
    # (its first alarm, then its peak; see pipeline.events).
    event_gap_min: Positive = 90.0
    qc: QcSettings = msgspec.field(default_factory=QcSettings)
    diurnal: DiurnalSettings = msgspec.field(default_factory=DiurnalSettings)
    zscore: ZScoreSettings = msgspec.field(default_factory=ZScoreSettings)
    ewma: EwmaSettings = msgspec.field(default_factory=EwmaSettings)
    cusum: CusumSettings = msgspec.field(default_factory=CusumSettings)
    stuck: StuckSettings = msgspec.field(default_factory=StuckSettings)
    gap: GapSettings = msgspec.field(default_factory=GapSettings)


class PressureFallSettings(Strict):
    enabled: bool = True
    window_hours: Positive = 3.0
    advisory_hpa: Positive = 3.5
    warning_hpa: Positive = 6.0
    variables: list[str] = msgspec.field(
        default_factory=lambda: ["pressure_msl_hpa", "pressure_hpa"]
    )


class GustSettings(Strict):
    enabled: bool = True
    variable: str = "wind_gust_ms"
    advisory_ms: Positive = 20.6
    warning_ms: Positive = 25.9


class RapidChangeSettings(Strict):
    enabled: bool = True
    window_minutes: Positive = 60.0
    thresholds: dict[str, Positive] = msgspec.field(
        default_factory=lambda: {"temperature_c": 6.0, "humidity_pct": 35.0, "wind_speed_ms": 12.0}
    )


class RuleSettings(Strict):
    pressure_fall: PressureFallSettings = msgspec.field(default_factory=PressureFallSettings)
    gust: GustSettings = msgspec.field(default_factory=GustSettings)
    rapid_change: RapidChangeSettings = msgspec.field(default_factory=RapidChangeSettings)


class ValidationSettings(Strict):
    max_future_s: NonNegative = 300.0


class LimitsSettings(Strict):
    """Bounds on what outside input can make one process hold in memory."""

    max_stations: PositiveInt = 20_000  # readings of stations beyond it are quarantined
    # A station silent this long (observed time) leaves memory, not the store; 0: never. At
    # least detectors.max_gap_s: a gap that long restarts a series' warm-up anyway.
    forget_after_s: NonNegative = 86_400.0
    # Recent readings kept in memory for the console's short charts: 240 a station, fewer
    # (at least 32) when that many stations' would not fit in this many MB.
    recent_history_mb: Positive = 24.0


class StorageSettings(Strict):
    path: str = ""
    retention_days: Positive = 7.0
    enabled: bool = True


class BusSettings(Strict):
    kind: Literal["memory", "kafka"] = "memory"
    capacity: PositiveInt = 50_000
    batch_size: PositiveInt = 20_000


class CsvSettings(Strict):
    """How a replayed CSV file's columns map to an observation, and how its cells read
    (:mod:`pipeline.sources.replay_csv`)."""

    time_column: str = "timestamp"
    date_column: str = ""  # date and time in two columns: the time is read from "date time"
    time_format: str = ""  # strptime format; empty: ISO 8601 or epoch seconds
    timezone: str = "UTC"  # IANA zone of times written without an offset
    header_line: PositiveInt = 1
    data_line: NonNegativeInt = 0  # the first row's line, when lines of units follow the header
    station_column: str = ""
    station_id: str = "csv"
    station_name_column: str = ""
    latitude_column: str = ""
    longitude_column: str = ""
    # A file of one station: its place, when the file has no coordinate columns.
    latitude: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None
    longitude: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None
    elevation_m: float | None = None  # unknown, unless given
    variables: dict[str, str] = {}
    units: dict[str, str] = {}  # variable -> the unit its column is in, e.g. "degF"
    # What station files write for "no reading": empty, NA and N/A (R, pandas), NaN, null,
    # M (ASOS/METAR, IEM), --- (Davis WeatherLink), and the sentinels -999, -9900 (TMY3) and
    # -9999 (USCRN, many loggers). Text is matched ignoring case, numbers by value (-9999.0).
    missing: list[str] = msgspec.field(
        default_factory=lambda: [
            "",
            "NA",
            "N/A",
            "NaN",
            "null",
            "M",
            "---",
            "-999",
            "-9900",
            "-9999",
        ]
    )


class ReplaySettings(Strict):
    path: str = ""
    pace: Literal["recorded", "fast"] = "recorded"
    speed: Positive = 60.0
    loop: bool = False
    csv: CsvSettings = msgspec.field(default_factory=CsvSettings)


class SourceSettings(Strict):
    kind: Literal["simulator", "open-meteo", "openweathermap", "replay"] = "simulator"
    poll_seconds: Positive = 60.0
    timeout_s: Positive = 10.0
    replay: ReplaySettings = msgspec.field(default_factory=ReplaySettings)


class EmailSettings(Strict):
    """SMTP delivery; the password only from the environment (``SMTP_PASS``)."""

    host: str = ""  # empty: no e-mail
    port: PositiveInt = 587
    security: Literal["starttls", "tls", "plain"] = "starttls"
    user: str = ""
    sender: str = "mass-tui@localhost"
    to: list[str] = []
    ca_file: str = ""  # a PEM CA bundle for a relay with a private CA; empty: the system's
    timeout_s: Positive = 15.0


class WebhookSettings(Strict):
    """HTTP POST of a JSON document; the bearer token only from the environment
    (``ALERT_WEBHOOK_TOKEN``)."""

    url: str = ""  # empty: no webhook
    timeout_s: Positive = 10.0


class AppriseSettings(Strict):
    """Apprise URLs (Telegram, Slack, Teams, ntfy, Matrix, SMS gateways...). They carry tokens:
    give them in ``ALERT_APPRISE_URLS`` (the environment or .env) rather than here."""

    urls: list[str] = []


class PersistenceSettings(Strict):
    """An alert when a station's statistical anomalies persist: ``count`` within
    ``window_min`` of observed time."""

    enabled: bool = False
    count: PositiveInt = 5
    window_min: Positive = 30.0


class SensorFaultSettings(Strict):
    """Maintenance alerts for persistent sensor faults (see pipeline.maintenance)."""

    enabled: bool = True
    spikes: PositiveInt = 3  # spikes of one series within window_hours that make a pattern
    window_hours: Positive = 24.0  # and how long a sensor step stays an alert


class NoDataSettings(Strict):
    """An alert while a station, or one of its variables, is silent for longer than usual."""

    enabled: bool = True
    factor: Annotated[float, msgspec.Meta(gt=1)] = 4.0  # times the series' usual spacing
    min_silence_min: Positive = 30.0  # and never less than this


class AlertSettings(Strict):
    enabled: bool = True  # notifications; alerts always show
    cooldown_min: NonNegative = 30.0
    clear_after_min: NonNegative = 10.0
    silence_min: Positive = 60.0
    bell: bool = True
    outbox_expire_hours: Positive = 24.0
    resolved: bool = True  # tell when a notified alert clears
    remind_min: NonNegative = 0.0  # re-tell an unacknowledged warning this often; 0: never
    persistence: PersistenceSettings = msgspec.field(default_factory=PersistenceSettings)
    no_data: NoDataSettings = msgspec.field(default_factory=NoDataSettings)
    sensor_faults: SensorFaultSettings = msgspec.field(default_factory=SensorFaultSettings)
    email: EmailSettings = msgspec.field(default_factory=EmailSettings)
    webhook: WebhookSettings = msgspec.field(default_factory=WebhookSettings)
    apprise: AppriseSettings = msgspec.field(default_factory=AppriseSettings)


class KafkaSettings(Strict):
    """Connection and topics. The SASL password is never here: it comes from the environment
    (``KAFKA_SASL_PASSWORD``) only."""

    bootstrap_servers: str = "localhost:9092"
    topic: str = "weather_live"
    anomalies_topic: str = "weather_anomalies"
    dead_letter_topic: str = "weather_live_dlq"
    commands_topic: str = "weather_alert_commands"
    client_id: str = "mass-tui"
    group_id: str = "mass-tui-workers"
    partitions: PositiveInt = 6
    replication_factor: PositiveInt = 1
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    ssl_ca_location: str = ""
    watch_history: NonNegativeInt = 2_000
    spool_keep_delivered: NonNegativeInt = 200_000


class WeatherSettings(Strict):
    api_base: str = "https://api.open-meteo.com"
    openweathermap_base: str = "https://api.openweathermap.org"


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """What one pipeline runs with: its stations and variables and the settings of each part
    (built from the loaded settings by ``mass_tui.settings_layers.pipeline_settings``)."""

    stations: tuple[Station, ...]
    variables: tuple[VariableSpec, ...]
    bus: BusSettings
    detectors: DetectorSettings
    rules: RuleSettings
    validation: ValidationSettings
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    restore_s: float = 24 * 3600.0
    clear_after_s: float = 0.0  # alert hysteresis (observed time)
    persistence: PersistenceSettings = field(default_factory=PersistenceSettings)
    no_data: NoDataSettings = field(default_factory=NoDataSettings)
    sensor_faults: SensorFaultSettings = field(default_factory=SensorFaultSettings)
    silence_s: float = 3600.0
