"""The one place that reads settings.

Precedence, highest first: command-line flags, environment (with ``.env``), ``--config PATH``,
``./config.toml``, the user config file (platformdirs), built-in defaults. Each layer is a
nested dict; they are merged key by key (a list such as ``[[stations]]`` replaces the one
below it), and the result is converted once into typed :class:`Settings`. The layer that set
each key is remembered so an invalid value is reported against the file (or variable) it came
from, in one line.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec
import platformdirs
import tomlkit
import tomlkit.exceptions

from pipeline.errors import MassError
from pipeline.settings import (
    AlertSettings,
    BusSettings,
    DetectorSettings,
    KafkaSettings,
    LimitsSettings,
    PipelineSettings,
    Positive,
    PositiveInt,
    RuleSettings,
    SimulatorSettings,
    SourceSettings,
    StationSettings,
    StorageSettings,
    Strict,
    ValidationSettings,
    VariableSettings,
    WeatherSettings,
)
from pipeline.stations import DEFAULT_STATIONS, Station, elevation
from pipeline.text import printable
from pipeline.threshold_catalogue import PARAMETERS, setting_value
from pipeline.times import zone_problem
from pipeline.units import unit_choices
from pipeline.variables import ENVIRONMENTAL_VARIABLES, STANDARD_VARIABLES, VariableSpec

APP_NAME = "mass-tui"
DEFAULTS_LAYER = "built-in defaults"
ENV_LAYER = "environment"
FLAGS_LAYER = "command line"


class ConfigError(MassError):
    """A setting is invalid; the message is one line naming where, which key and what."""


class UiSettings(Strict):
    refresh_hz: Positive = 2.0
    chart_interval_s: Positive = 2.0
    theme: str = "mass-dark"
    # a preset, or quantity -> unit: [ui.units] temperature = "°F", speed = "kn" (the rest metric)
    units: Literal["metric", "imperial"] | dict[str, str] = "metric"
    keymap: dict[str, str] = {}  # a key binding's id -> its keys, e.g. acknowledge = "ctrl+a"
    time: Literal["utc", "station"] = "utc"  # times in UTC, or in each station's local time


class ServiceSettings(Strict):
    http: str = "127.0.0.1:8765"  # HOST:PORT of `mass-tui service`'s HTTP API


class LoggingSettings(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_bytes: PositiveInt = 2_000_000  # an int: as a float, `config show` printed 2000000.0
    backups: int = 3


class Settings(Strict):
    data_dir: str = ""
    stations: list[StationSettings] = []
    variables: dict[str, VariableSettings] = {}
    source: SourceSettings = msgspec.field(default_factory=SourceSettings)
    simulator: SimulatorSettings = msgspec.field(default_factory=SimulatorSettings)
    bus: BusSettings = msgspec.field(default_factory=BusSettings)
    validation: ValidationSettings = msgspec.field(default_factory=ValidationSettings)
    limits: LimitsSettings = msgspec.field(default_factory=LimitsSettings)
    detectors: DetectorSettings = msgspec.field(default_factory=DetectorSettings)
    rules: RuleSettings = msgspec.field(default_factory=RuleSettings)
    alerts: AlertSettings = msgspec.field(default_factory=AlertSettings)
    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)
    kafka: KafkaSettings = msgspec.field(default_factory=KafkaSettings)
    weather: WeatherSettings = msgspec.field(default_factory=WeatherSettings)
    ui: UiSettings = msgspec.field(default_factory=UiSettings)
    service: ServiceSettings = msgspec.field(default_factory=ServiceSettings)
    logging: LoggingSettings = msgspec.field(default_factory=LoggingSettings)


@dataclass(frozen=True, slots=True)
class LoadedSettings:
    """Settings plus what was derived from them and where they came from."""

    settings: Settings
    stations: tuple[Station, ...]
    variables: tuple[VariableSpec, ...]
    data_dir: Path
    database_path: Path
    files: tuple[Path, ...]
    """The config files that were read, lowest precedence first."""
    user_config: Path
    """Where the console saves settings changed from the keyboard."""
    provenance: dict[str, str]
    """Dotted key -> the layer that set it (a file path, ``environment NAME``, ``command line``);
    ``extra_station`` -> the variables that gave :attr:`extra_station`."""
    extra_station: Station | None = None
    """The station LOCATION_LAT and LOCATION_LON add after the others (the last of
    :attr:`stations`); not a setting: ``settings.stations`` does not hold it."""

    @property
    def variable_names(self) -> list[str]:
        return [v.name for v in self.variables]

    def overridden_by(self, dotted: str) -> str | None:
        """The layer above the user config file that sets ``dotted``, if any: a value saved to
        the user config file would not take effect at the next start while that layer sets it."""
        origin = self.provenance.get(dotted, DEFAULTS_LAYER)
        if origin in (DEFAULTS_LAYER, str(self.user_config)):
            return None
        return origin


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true/false, got {text!r}")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {text!r}")
    return value


# The original M.A.S.S. design's environment names, and the key each one sets.
ENVIRONMENT_KEYS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "POLL_SECONDS": ("source.poll_seconds", _parse_float),
    "ALERTS_ENABLED": ("alerts.enabled", _parse_bool),
    "ALERT_PRESSURE_DROP_HPA": ("rules.pressure_fall.advisory_hpa", _parse_float),
    "ALERT_WIND_GUST_MPS": ("rules.gust.advisory_ms", _parse_float),
    "ALERT_COOLDOWN_MIN": ("alerts.cooldown_min", _parse_float),
    "SMTP_HOST": ("alerts.email.host", str),
    "SMTP_PORT": ("alerts.email.port", int),
    "SMTP_USER": ("alerts.email.user", str),
    "ALERT_EMAIL_FROM": ("alerts.email.sender", str),
    "ALERT_EMAIL_TO": (
        "alerts.email.to",
        lambda text: [a.strip() for a in text.split(",") if a.strip()],
    ),
    "ALERT_WEBHOOK_URL": ("alerts.webhook.url", str),
    "ALERT_APPRISE_URLS": (
        "alerts.apprise.urls",
        lambda text: [u for u in re.split(r"[,\s]+", text) if u],
    ),
    "KAFKA_BOOTSTRAP_SERVERS": ("kafka.bootstrap_servers", str),
    "KAFKA_TOPIC": ("kafka.topic", str),
    "KAFKA_CLIENT_ID": ("kafka.client_id", str),
    "KAFKA_GROUP_ID": ("kafka.group_id", str),
    "KAFKA_ANOMALIES_TOPIC": ("kafka.anomalies_topic", str),
    "KAFKA_SECURITY_PROTOCOL": ("kafka.security_protocol", str),
    "KAFKA_SASL_MECHANISM": ("kafka.sasl_mechanism", str),
    "KAFKA_SASL_USERNAME": ("kafka.sasl_username", str),
    "KAFKA_SSL_CA_LOCATION": ("kafka.ssl_ca_location", str),
    "WEATHER_API_BASE": ("weather.api_base", str),
    "MASS_TUI_DATA_DIR": ("data_dir", str),
}


CONFIG_VARIABLE = "MASS_TUI_CONFIG"  # a settings file, as --config names one
LOCATION_VARIABLES = ("LOCATION_LAT", "LOCATION_LON", "LOCATION_NAME")  # one more station


def user_config_path() -> Path:
    return platformdirs.user_config_path(APP_NAME) / "config.toml"


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def environment_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    """Settings named by environment variables (already including ``.env``)."""
    layer: dict[str, Any] = {}
    for name, (dotted, parse) in ENVIRONMENT_KEYS.items():
        raw = environ.get(name)
        if raw is None or raw == "":
            continue
        try:
            _set_dotted(layer, dotted, parse(raw))
        except ValueError as exc:
            raise ConfigError(f"config error: environment: {name}: {exc}") from None
    lat_name, lon_name, name_name = LOCATION_VARIABLES
    lat, lon = environ.get(lat_name), environ.get(lon_name)
    if lat or lon:
        if not (lat and lon):
            raise ConfigError(
                "config error: environment: LOCATION_LAT and LOCATION_LON must be set together"
            )
        try:
            latitude, longitude = _parse_float(lat), _parse_float(lon)
        except ValueError as exc:
            raise ConfigError(f"config error: environment: LOCATION_LAT/LON: {exc}") from None
        layer["extra_station"] = {
            "name": environ.get(name_name, "Local"),
            "id": "local",
            "latitude": latitude,
            "longitude": longitude,
        }
    return layer


def read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ConfigError(f"config error: {path}: is a directory, not a settings file") from None
    except OSError as exc:
        raise ConfigError(f"config error: {path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config error: {path}: not UTF-8 text ({exc.reason})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config error: {path}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"config error: {path}: invalid TOML: nested too deeply") from None


def _merge(
    base: dict[str, Any], layer: dict[str, Any], origin: str, provenance: dict[str, str], prefix=""
) -> None:
    for key, value in layer.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value, origin, provenance, dotted + ".")
        else:
            base[key] = value
            provenance[dotted] = origin
            if isinstance(value, dict):
                _mark(value, origin, provenance, dotted + ".")


def _mark(tree: dict[str, Any], origin: str, provenance: dict[str, str], prefix: str) -> None:
    for key, value in tree.items():
        provenance[f"{prefix}{key}"] = origin
        if isinstance(value, dict):
            _mark(value, origin, provenance, f"{prefix}{key}.")


# The path msgspec reports: keys, list indices, and ``[...]`` for a value of a table (whose key
# it does not say: the table is then where the problem is).
_PATH_IN_ERROR = re.compile(r" - at `\$((?:\.[A-Za-z0-9_\-]+|\[\d+\]|\[\.\.\.\])*)`$")
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")


def _where(key: str, provenance: dict[str, str]) -> str:
    """The layer that set ``key`` (or its nearest set ancestor)."""
    probe = key
    while probe:
        if probe in provenance:
            return provenance[probe]
        probe = probe.rpartition(".")[0]
    return DEFAULTS_LAYER


def _explain(exc: msgspec.ValidationError, provenance: dict[str, str]) -> ConfigError:
    message = str(exc)
    match = _PATH_IN_ERROR.search(message)
    path = match.group(1) if match else ""
    problem = message[: match.start()] if match else message
    key = re.sub(r"\[(\d+)\]", r".\1", path.replace("[...]", "")).lstrip(".")
    unknown = _UNKNOWN_FIELD.search(problem)
    if unknown:
        key = f"{key}.{unknown.group(1)}".lstrip(".")
        problem = "unknown setting"
    return ConfigError(
        f"config error: {_where(key, provenance)}: {key or '(top level)'}: {problem}"
    )


def _variables(settings: Settings) -> tuple[VariableSpec, ...]:
    standard = list(STANDARD_VARIABLES)
    if settings.simulator.environmental:
        standard.extend(ENVIRONMENTAL_VARIABLES)
    by_name = {spec.name: spec for spec in (*STANDARD_VARIABLES, *ENVIRONMENTAL_VARIABLES)}
    chosen = {spec.name: spec for spec in standard}
    for name, override in settings.variables.items():
        base = by_name.get(name)
        fields = {
            "name": name,
            "unit": override.unit or (base.unit if base else ""),
            "label": override.label or (base.label if base else name.replace("_", " ")),
            "short": override.short or (base.short if base else ""),
            "minimum": _pick(override.minimum, base and base.minimum),
            "maximum": _pick(override.maximum, base and base.maximum),
            "resolution": _pick(override.resolution, base.resolution if base else 0.1),
            "kind": _pick(override.kind, base.kind if base else "continuous"),
            "overshoot": _pick(override.overshoot, base.overshoot if base else 0.0),
        }
        if fields["minimum"] is None or fields["maximum"] is None:
            raise ConfigError(
                f"config error: variables.{name}: a new variable needs minimum and maximum"
            )
        try:
            chosen[name] = VariableSpec(**fields)
        except ValueError as exc:
            raise ConfigError(f"config error: variables.{name}: {exc}") from None
    return tuple(chosen.values())


def _pick(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


def _stations(settings: Settings, extra: dict[str, Any] | None) -> tuple[Station, ...]:
    for s in settings.stations:
        problem = zone_problem(s.timezone) if s.timezone else None
        if problem:
            raise ConfigError(f"config error: stations: {printable(s.name, 40)}: {problem}")
    stations = [
        Station(
            s.id or _slug(s.name),
            s.name,
            s.latitude,
            s.longitude,
            elevation(s.elevation_m),
            s.timezone,
        )
        for s in settings.stations
    ] or list(DEFAULT_STATIONS)
    if extra:
        stations.append(Station(extra["id"], extra["name"], extra["latitude"], extra["longitude"]))
    ids = [s.station_id for s in stations]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate:
        raise ConfigError(f"config error: stations: station id {duplicate!r} is used twice")
    return tuple(stations)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "station"


def _check_names(settings: Settings, variables: tuple[VariableSpec, ...], where) -> None:
    """Variables named by detectors and rules must exist: a typo would silently do nothing."""
    known = {v.name for v in variables}
    named = [
        p.setting_key(v)
        for p in PARAMETERS
        if p.per_variable
        for v in setting_value(settings, p.setting)
    ]
    for key in named:
        variable = key.rpartition(".")[2]
        if variable not in known:
            raise ConfigError(f"config error: {where(key)}: {key}: unknown variable {variable!r}")
    for variable in settings.rules.pressure_fall.variables:
        if variable not in known:
            key = "rules.pressure_fall.variables"
            raise ConfigError(f"config error: {where(key)}: {key}: unknown variable {variable!r}")
    for p in PARAMETERS:
        if p.not_below:
            key, floor = p.setting, f"{p.section}.{p.not_below}"
            if setting_value(settings, key) < setting_value(settings, floor):
                raise ConfigError(
                    f"config error: {where(key)}: {key}: must not be below {p.not_below}"
                )
    forget_after_s = settings.limits.forget_after_s
    if 0 < forget_after_s < settings.detectors.max_gap_s:
        key = "limits.forget_after_s"
        raise ConfigError(
            f"config error: {where(key)}: {key}: must be 0 (never) or at least"
            f" detectors.max_gap_s ({settings.detectors.max_gap_s:g})"
        )


def load_settings(
    *,
    config_path: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    user_config: Path | None = None,
) -> LoadedSettings:
    """Read every layer, merge, validate. Raises :class:`ConfigError` (one line) on any problem.

    Lowest first: the defaults, the user config file, the file of ``config_path`` (``--config``)
    or else of :data:`CONFIG_VARIABLE`, the environment, ``flags`` (dotted keys such as
    ``"storage.retention_days"`` given on the command line). The working directory's
    ``config.toml`` is not read: an unrelated one wherever the user happens to be must not
    change or stop the console.
    """
    environ = os.environ if environ is None else environ
    user_config = user_config or user_config_path()
    layers: list[tuple[str, dict[str, Any]]] = []
    files: list[Path] = []
    if user_config.is_file():
        layers.append((str(user_config), read_toml(user_config)))
        files.append(user_config)
    if config_path is None and environ.get(CONFIG_VARIABLE):
        config_path = Path(environ[CONFIG_VARIABLE]).expanduser()
        if not config_path.exists():
            raise ConfigError(f"config error: {CONFIG_VARIABLE}={config_path}: no such file")
    if config_path is not None:
        if not config_path.exists():
            raise ConfigError(f"config error: {config_path}: no such file")
        layers.append((str(config_path), read_toml(config_path)))
        files.append(config_path)
    env_layer = environment_layer(environ)
    extra_station = env_layer.pop("extra_station", None)
    layers.append((ENV_LAYER, env_layer))
    flag_layer: dict[str, Any] = {}
    for dotted, value in (flags or {}).items():
        if value is not None:
            _set_dotted(flag_layer, dotted, value)
    layers.append((FLAGS_LAYER, flag_layer))

    merged: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    for origin, layer in layers:
        _merge(merged, layer, origin, provenance)
    for name, (dotted, _) in ENVIRONMENT_KEYS.items():
        if provenance.get(dotted) == ENV_LAYER:
            provenance[dotted] = f"{ENV_LAYER} {name}"
    if extra_station:
        given = [name for name in LOCATION_VARIABLES if environ.get(name)]
        provenance["extra_station"] = f"{ENV_LAYER} {', '.join(given)}"
    try:
        settings = msgspec.convert(merged, Settings)
    except msgspec.ValidationError as exc:
        raise _explain(exc, provenance) from None

    def where(key: str) -> str:
        return _where(key, provenance)

    variables = _variables(settings)
    _check_names(settings, variables, where)
    try:
        unit_choices(settings.ui.units)
    except ValueError as exc:
        raise ConfigError(f"config error: {where('ui.units')}: ui.units: {exc}") from None
    stations = _stations(settings, extra_station)
    data_dir = (
        Path(settings.data_dir).expanduser()
        if settings.data_dir
        else (platformdirs.user_data_path(APP_NAME))
    )
    # --data-dir moves everything, the database included, even when config names a path.
    database = (
        Path(settings.storage.path).expanduser()
        if settings.storage.path and where("data_dir") != FLAGS_LAYER
        else data_dir / "mass.sqlite3"
    )
    return LoadedSettings(
        settings,
        stations,
        variables,
        data_dir,
        database,
        tuple(files),
        user_config,
        provenance,
        stations[-1] if extra_station else None,
    )


def pipeline_settings(loaded: LoadedSettings, stations: Sequence[Station]) -> PipelineSettings:
    """The part of the settings the pipeline runs on."""
    settings = loaded.settings
    return PipelineSettings(
        stations=tuple(stations),
        variables=loaded.variables,
        bus=settings.bus,
        detectors=settings.detectors,
        rules=settings.rules,
        validation=settings.validation,
        limits=settings.limits,
        clear_after_s=settings.alerts.clear_after_min * 60,
        silence_s=settings.alerts.silence_min * 60,
        persistence=settings.alerts.persistence,
        no_data=settings.alerts.no_data,
        sensor_faults=settings.alerts.sensor_faults,
    )


class ConfigSaveError(MassError):
    """The settings file could not be written; the message says which file and why."""


NEW_FILE_HEADER = "# Written by mass-tui (settings changed from the console).\n"


def save_settings(path: Path, changes: Mapping[str, Any]) -> None:
    """Merge ``changes`` (dotted key -> value) into the TOML file at ``path``, atomically.

    Through tomlkit, so a file edited by hand keeps its comments, order and layout: only the
    changed values change. It is written to a temporary file in the same directory and renamed
    over the original, so a crash or a full disk never leaves half a file.
    """
    try:
        text = path.read_text(encoding="utf-8") if path.is_file() else NEW_FILE_HEADER
        document = tomlkit.parse(text)
    except (OSError, UnicodeDecodeError, tomlkit.exceptions.ParseError) as exc:
        raise ConfigSaveError(f"cannot save settings to {path}: {exc}") from None
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        table: MutableMapping[str, Any] = document
        for part in parents:
            if not isinstance(table.get(part), MutableMapping):
                table[part] = tomlkit.table()
            table = table[part]
        table[leaf] = value
    text = tomlkit.dumps(document)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise ConfigSaveError(f"cannot save settings to {path}: {exc.strerror or exc}") from None
