"""OpenWeatherMap current weather, one request per station per poll.

API: ``GET /data/2.5/weather?lat=..&lon=..&appid=KEY&units=metric``
(https://openweathermap.org/current): with ``units=metric`` temperatures are °C and wind m/s.
``main.pressure`` is sea-level pressure per OWM's documentation, ``main.grnd_level`` the
pressure at ground level; ``wind.gust``, ``rain`` and ``snow`` appear only "where available".
The API key is a secret: it is sent as a query parameter and redacted from every log line,
state text and rejection.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.clock import Clock, MonotonicClock, SystemClock
from pipeline.observation import Observation
from pipeline.sources.http_client import (
    BodyError,
    HttpPoller,
    HttpSource,
    Problem,
    Reply,
    RetryPolicy,
    endpoint,
    number_at,
)
from pipeline.stations import Station

log = logging.getLogger(__name__)

# (path in the body, canonical name, whether OWM always sends it)
FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("main.temp", "temperature_c", True),
    ("main.humidity", "humidity_pct", True),
    ("main.pressure", "pressure_msl_hpa", True),
    ("main.grnd_level", "pressure_hpa", False),
    ("wind.speed", "wind_speed_ms", True),
    ("wind.gust", "wind_gust_ms", False),
    ("wind.deg", "wind_dir_deg", True),
)

KELVIN_ABOVE = 150.0
"""No air temperature on record is below -95 °C (178 K) or above 60 °C, so a "°C" value above
150 can only be Kelvin: the server answered in its standard units despite ``units=metric``."""

ZERO_CELSIUS_K = 273.15


def precipitation_mm(body: Mapping[str, Any]) -> float | None:
    """Rain plus snow (water equivalent) of the last hour, ``rain.1h + snow.1h``.

    OWM sends ``rain``/``snow`` only when some fell, so a body with neither means none was
    reported in the last hour: 0.0, which keeps the rain series continuous. A ``rain`` or
    ``snow`` object without ``1h`` leaves the last hour unknown: :class:`BodyError`.
    """
    total = 0.0
    for kind in ("rain", "snow"):
        if kind in body:
            amount = number_at(body, f"{kind}.1h")
            if amount is None:
                return None
            total += amount
    return total


def read_values(body: Mapping[str, Any]) -> tuple[dict[str, float], list[Problem], bool]:
    """Canonical readings, the readings that could not be used, and whether the temperature
    had to be converted from Kelvin. A null, or an absent optional field, leaves the variable
    out; an absent documented field is a problem."""
    values: dict[str, float] = {}
    problems: list[Problem] = []
    for path, canonical, required in FIELDS:
        try:
            value = number_at(body, path, required=required)
        except BodyError as exc:
            problems.append(Problem(canonical, str(exc)))
            continue
        if value is not None:
            values[canonical] = value
    kelvin = values.get("temperature_c", 0.0) > KELVIN_ABOVE
    if kelvin:
        values["temperature_c"] -= ZERO_CELSIUS_K
    try:
        precip = precipitation_mm(body)
    except BodyError as exc:
        problems.append(Problem("precip_mm", str(exc)))
    else:
        if precip is not None:
            values["precip_mm"] = precip
    return values, problems, kelvin


class OpenWeatherMapSource(HttpSource):
    """Polls OpenWeatherMap for each of ``stations`` in turn, a round at most every
    ``poll_seconds`` (on ``clock``) and less often while backing off.

    A failed request ends the round (the observations already read are returned) and the
    whole round is retried after the backoff; what was already emitted is not emitted again
    (same station, same ``dt``). A 401 (bad or not yet activated key) is logged once and waits
    the longest retry delay.
    """

    name = "openweathermap"

    def __init__(
        self,
        stations: Sequence[Station],
        *,
        api_key: str,
        api_base: str = "https://api.openweathermap.org",
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
            raise ValueError("openweathermap needs at least one station")
        if not api_key:
            raise ValueError("openweathermap needs an API key")
        self._stations = list(stations)
        self._api_key = api_key
        self._url = endpoint(api_base, "/data/2.5/weather")
        self._http = HttpPoller(
            self.name,
            poll_seconds=poll_seconds,
            clock=clock or MonotonicClock(),
            wall=wall or SystemClock(),
            rng=rng or random.Random(),
            retry=retry or RetryPolicy(),
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
            secrets=(api_key,),
        )
        self.poll_interval_s = poll_interval_s
        self._last_emitted: dict[str, float] = {}
        self._kelvin_logged = False

    def poll(self) -> list[Observation]:
        if not self._http.due():
            return []
        observations: list[Observation] = []
        for station in self._stations:
            params = {
                "lat": f"{station.latitude:.4f}",
                "lon": f"{station.longitude:.4f}",
                "appid": self._api_key,
                "units": "metric",
            }
            reply = self._http.get_json(self._url, params)
            if reply is None:
                return observations
            if not isinstance(reply.data, dict):
                self._http.fail_body("expected a JSON object", reply.text)
                return observations
            observation = self._read(station, reply)
            if observation is not None:
                observations.append(observation)
        self._http.succeeded()
        return observations

    def _read(self, station: Station, reply: Reply) -> Observation | None:
        try:
            observed_at = number_at(reply.data, "dt")
        except BodyError as exc:
            self._http.reject(str(exc), reply.text, station_id=station.station_id)
            return None
        if observed_at is None:
            self._http.reject("missing dt", reply.text, station_id=station.station_id)
            return None
        if observed_at <= self._last_emitted.get(station.station_id, -math.inf):
            return None
        self._last_emitted[station.station_id] = observed_at
        values, problems, kelvin = read_values(reply.data)
        for problem in problems:
            self._http.reject(
                problem.reason,
                reply.text,
                station_id=station.station_id,
                variable=problem.variable,
            )
        if kelvin and not self._kelvin_logged:
            self._kelvin_logged = True
            log.warning(
                "%s: temperatures came in Kelvin despite units=metric; converted", self.name
            )
        if not values:
            return None
        return self._observation(station, observed_at, values)
