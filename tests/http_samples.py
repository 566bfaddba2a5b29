"""Weather-API response bodies for the loopback test server, shaped as the providers document
them: verbatim copies of the shared API samples (Open-Meteo ``/v1/forecast``, OpenWeatherMap
``/data/2.5/weather`` and their error bodies), and builders that vary their numbers."""

from __future__ import annotations

import json
from typing import Any

OPEN_METEO_CURRENT = (
    '{"latitude":52.52,"longitude":13.419998,"generationtime_ms":0.0890493392944336,'
    '"utc_offset_seconds":0,"timezone":"GMT","timezone_abbreviation":"GMT","elevation":38.0,'
    '"current_units":{"time":"iso8601","interval":"seconds","temperature_2m":"°C",'
    '"relative_humidity_2m":"%","precipitation":"mm","pressure_msl":"hPa",'
    '"surface_pressure":"hPa","wind_speed_10m":"m/s","wind_direction_10m":"°",'
    '"wind_gusts_10m":"m/s"},"current":{"time":"2026-01-15T12:15","interval":900,'
    '"temperature_2m":3.4,"relative_humidity_2m":87,"precipitation":0.20,"pressure_msl":996.3,'
    '"surface_pressure":991.6,"wind_speed_10m":7.42,"wind_direction_10m":236,'
    '"wind_gusts_10m":15.80},"hourly_units":{"time":"iso8601","pressure_msl":"hPa",'
    '"wind_gusts_10m":"m/s"},"hourly":{"time":["2026-01-15T09:00","2026-01-15T10:00",'
    '"2026-01-15T11:00","2026-01-15T12:00","2026-01-15T13:00","2026-01-15T14:00"],'
    '"pressure_msl":[1001.9,1000.2,998.4,996.6,994.9,993.5],'
    '"wind_gusts_10m":[9.70,11.20,13.60,15.30,16.90,17.40]}}'
)
OPEN_METEO_ERROR_400 = (
    '{"error":true,"reason":"Cannot initialize WeatherVariable from invalid String value '
    'tempeture_2m for key hourly"}'
)
OPEN_METEO_ERROR_429 = (
    '{"error":true,"reason":"Minutely API request limit exceeded. Please try again in one minute."}'
)
OWM_CURRENT = (
    '{"coord":{"lon":10.99,"lat":44.34},"weather":[{"id":501,"main":"Rain",'
    '"description":"moderate rain","icon":"10d"}],"base":"stations","main":{"temp":298.48,'
    '"feels_like":298.74,"temp_min":297.56,"temp_max":300.05,"pressure":1015,"humidity":64,'
    '"sea_level":1015,"grnd_level":933},"visibility":10000,"wind":{"speed":0.62,"deg":349,'
    '"gust":1.18},"rain":{"1h":3.16},"clouds":{"all":100},"dt":1661870592,"sys":{"type":2,'
    '"id":2075663,"country":"IT","sunrise":1661834187,"sunset":1661882248},"timezone":7200,'
    '"id":3163858,"name":"Zocca","cod":200}'
)
OWM_ERROR_401 = (
    '{"cod":401, "message": "Invalid API key. Please see '
    'https://openweathermap.org/faq#error401 for more info."}'
)


def open_meteo_location(
    position: int,
    latitude: float,
    longitude: float,
    *,
    time: int | str,
    utc_offset_seconds: int = 0,
    **current: float | None,
) -> dict[str, Any]:
    """One element of a multi-location answer to ``current=`` only (no ``hourly``): the sample
    moved to ``latitude``/``longitude``, ``current.time`` as epoch seconds (``timeformat=
    unixtime``) or local ISO text, and ``current`` values replaced by ``current``."""
    body = json.loads(OPEN_METEO_CURRENT)
    del body["hourly"], body["hourly_units"]
    body["latitude"], body["longitude"] = latitude, longitude
    body["utc_offset_seconds"] = utc_offset_seconds
    if position:
        body["location_id"] = position
    if isinstance(time, int):
        body["current_units"]["time"] = "unixtime"
    body["current"]["time"] = time
    body["current"].update(current)
    return body


def owm_current(*, dt: int, drop: tuple[str, ...] = (), **main: float) -> dict[str, Any]:
    """The OpenWeatherMap sample at ``dt`` with ``main`` values replaced and the dotted fields
    in ``drop`` (``wind.gust``, ``rain``) removed."""
    body = json.loads(OWM_CURRENT)
    body["dt"] = dt
    body["main"].update(main)
    for path in drop:
        *parents, leaf = path.split(".")
        node = body
        for key in parents:
            node = node[key]
        del node[leaf]
    return body
