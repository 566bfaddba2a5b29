"""Open-Meteo current conditions for every configured station, in one request per poll.

API: ``GET /v1/forecast`` with comma-separated ``latitude``/``longitude`` lists and
``current=`` variables (https://open-meteo.com/en/docs). Several locations come back as a JSON
array in request order, elements after the first carrying ``location_id``; one location as a
single object. ``current`` is model data at 15-minute steps, so most polls find nothing new.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from pipeline.clock import Clock, MonotonicClock, SystemClock
from pipeline.observation import Observation
from pipeline.sources.http_client import (
    BodyError,
    HttpPoller,
    HttpSource,
    Problem,
    RetryPolicy,
    endpoint,
    number_at,
)
from pipeline.stations import Station
from pipeline.units import input_unit

# Open-Meteo's ``current_units`` labels where they differ from :mod:`pipeline.units`' names,
# which own the conversion factors.
_LABELS = {"mp/h": "mph"}


@dataclass(frozen=True, slots=True)
class CurrentVariable:
    """One ``current=`` variable: its Open-Meteo name, the canonical name it becomes, and the
    canonical unit any unit label it comes with is converted to."""

    api_name: str
    canonical: str
    unit: str


CURRENT_VARIABLES: tuple[CurrentVariable, ...] = (
    CurrentVariable("temperature_2m", "temperature_c", "°C"),
    CurrentVariable("relative_humidity_2m", "humidity_pct", "%"),
    CurrentVariable("precipitation", "precip_mm", "mm"),
    CurrentVariable("pressure_msl", "pressure_msl_hpa", "hPa"),
    CurrentVariable("surface_pressure", "pressure_hpa", "hPa"),
    CurrentVariable("wind_speed_10m", "wind_speed_ms", "m/s"),
    CurrentVariable("wind_direction_10m", "wind_dir_deg", "°"),
    # The preceding hour's maximum gust, per Open-Meteo's documentation.
    CurrentVariable("wind_gusts_10m", "wind_gust_ms", "m/s"),
)


def current_time(location: Mapping[str, Any]) -> float:
    """``current.time`` as epoch seconds (UTC).

    With ``timeformat=unixtime`` it is already epoch seconds; otherwise it is an ISO 8601 local
    time without offset, and ``utc_offset_seconds`` says how far local time is ahead of UTC.
    """
    current = location.get("current")
    if not isinstance(current, dict):
        raise BodyError("missing current")
    if current.get("time") is None:
        raise BodyError("missing current.time")
    value = current["time"]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        raise BodyError(f"current.time is neither epoch seconds nor ISO 8601: {value!r:.40}")
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        raise BodyError(f"current.time is not ISO 8601: {value!r:.40}") from None
    if local.tzinfo is not None:
        return local.timestamp()
    offset = location.get("utc_offset_seconds")
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise BodyError("missing utc_offset_seconds for a local current.time")
    return local.replace(tzinfo=UTC).timestamp() - offset


def current_values(location: Mapping[str, Any]) -> tuple[dict[str, float], list[Problem]]:
    """The canonical readings of one location, and the readings that could not be used.

    A null value is Open-Meteo's "no data" and leaves the variable out, as a station that does
    not measure it would. Without ``current_units`` the units are the ones requested; with them,
    a label this table does not know rejects that reading rather than guessing.
    """
    units = location.get("current_units")
    units = units if isinstance(units, dict) else {}
    values: dict[str, float] = {}
    problems: list[Problem] = []
    for variable in CURRENT_VARIABLES:
        try:
            value = number_at(location, f"current.{variable.api_name}")
            if value is None:
                continue
            values[variable.canonical] = _to_canonical(variable, value, units)
        except BodyError as exc:
            problems.append(Problem(variable.canonical, str(exc)))
    return values, problems


def _to_canonical(variable: CurrentVariable, value: float, units: Mapping[str, Any]) -> float:
    label = units.get(variable.api_name)
    if label is None:
        return value
    try:
        if not isinstance(label, str):
            raise ValueError
        unit = input_unit(_LABELS.get(label, label), variable.unit)
    except ValueError:
        raise BodyError(f"unknown unit {label!r:.20} for current.{variable.api_name}") from None
    return unit.to_canonical(value)


class OpenMeteoSource(HttpSource):
    """Polls Open-Meteo for all ``stations`` at once, at most every ``poll_seconds`` (on
    ``clock``) and less often while backing off.

    ``poll()`` is called every ``poll_interval_s`` wall seconds and returns at once when no
    request is due, so stopping the producer never waits for a long poll period. An observation
    already emitted (same station, same ``current.time``) is not emitted again.
    """

    name = "open-meteo"

    def __init__(
        self,
        stations: Sequence[Station],
        *,
        api_base: str = "https://api.open-meteo.com",
        poll_seconds: float = 60.0,
        clock: Clock | None = None,
        wall: Clock | None = None,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        poll_interval_s: float = 1.0,
    ) -> None:
        if not stations:
            raise ValueError("open-meteo needs at least one station")
        self._stations = list(stations)
        self._url = endpoint(api_base, "/v1/forecast")
        self._params = {
            "latitude": ",".join(f"{s.latitude:.4f}" for s in self._stations),
            "longitude": ",".join(f"{s.longitude:.4f}" for s in self._stations),
            "current": ",".join(v.api_name for v in CURRENT_VARIABLES),
            "wind_speed_unit": "ms",
            "timeformat": "unixtime",
            "timezone": "GMT",
        }
        self._http = HttpPoller(
            self.name,
            poll_seconds=poll_seconds,
            clock=clock or MonotonicClock(),
            wall=wall or SystemClock(),
            rng=rng or random.Random(),
            retry=retry or RetryPolicy(),
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
        )
        self.poll_interval_s = poll_interval_s
        self._last_emitted: dict[str, float] = {}

    def poll(self) -> list[Observation]:
        if not self._http.due():
            return []
        reply = self._http.get_json(self._url, self._params)
        if reply is None:
            return []
        data = reply.data
        if isinstance(data, dict) and data.get("error") is True:
            self._http.fail_body(f"API error: {data.get('reason')!s:.150}", reply.text)
            return []
        if not isinstance(data, dict | list):
            self._http.fail_body("expected a JSON object or an array of locations", reply.text)
            return []
        locations = data if isinstance(data, list) else [data]
        observations = []
        for position, location in enumerate(locations):
            observation = self._read(position, location)
            if observation is not None:
                observations.append(observation)
        self._http.succeeded()
        return observations

    def _read(self, position: int, location: Any) -> Observation | None:
        payload = msgspec.json.encode(location).decode()
        if not isinstance(location, dict):
            self._http.reject(f"location {position} is not a JSON object", payload)
            return None
        index = location.get("location_id", position)
        if isinstance(index, bool) or not isinstance(index, int):
            self._http.reject(f"location_id is not an integer: {index!r:.20}", payload)
            return None
        if not 0 <= index < len(self._stations):
            self._http.reject(f"location_id {index} matches no requested station", payload)
            return None
        station = self._stations[index]
        try:
            observed_at = current_time(location)
        except BodyError as exc:
            self._http.reject(str(exc), payload, station_id=station.station_id)
            return None
        if observed_at <= self._last_emitted.get(station.station_id, -math.inf):
            return None
        self._last_emitted[station.station_id] = observed_at
        values, problems = current_values(location)
        for problem in problems:
            self._http.reject(
                problem.reason, payload, station_id=station.station_id, variable=problem.variable
            )
        if not values:
            return None
        return self._observation(station, observed_at, values)
