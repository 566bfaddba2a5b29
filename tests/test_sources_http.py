"""The Open-Meteo and OpenWeatherMap sources against a real HTTP server on 127.0.0.1.

Time is a FixedClock the tests advance (the sources never sleep), and the jitter comes from a
seeded ``random.Random``, so backoff timings are exact. Only the timeout test waits for real.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Sequence
from email.utils import formatdate
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pipeline.clock import FixedClock
from pipeline.sources.http_client import PAYLOAD_LIMIT_BYTES, RetryPolicy
from pipeline.sources.open_meteo import OpenMeteoSource
from pipeline.sources.openweathermap import OpenWeatherMapSource
from pipeline.stations import Station
from tests.http_samples import (
    OPEN_METEO_ERROR_400,
    OPEN_METEO_ERROR_429,
    OWM_ERROR_401,
    open_meteo_location,
    owm_current,
)

START = 1_768_479_300  # 2026-01-15T12:15:00Z
SEED = 7
STATIONS = (
    Station("ber", "Berlin", 52.52, 13.41, 38.0),
    Station("lon", "London", 51.5074, -0.1278, 11.0),
    Station("nyc", "New York", 40.7128, -74.0060, 10.0),
)
FORECAST = "/v1/forecast"
WEATHER = "/data/2.5/weather"
API_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(float(START))


def open_meteo(
    server: HTTPServer,
    clock: FixedClock,
    *,
    stations: Sequence[Station] = STATIONS,
    retry: RetryPolicy | None = None,
    timeout_s: float = 10.0,
) -> OpenMeteoSource:
    return OpenMeteoSource(
        stations,
        api_base=server.url_for("/"),
        poll_seconds=60.0,
        clock=clock,
        wall=clock,
        timeout_s=timeout_s,
        retry=retry,
        rng=random.Random(SEED),
    )


def owm(
    server: HTTPServer, clock: FixedClock, stations: Sequence[Station] = STATIONS[:1]
) -> OpenWeatherMapSource:
    return OpenWeatherMapSource(
        stations,
        api_key=API_KEY,
        api_base=server.url_for("/"),
        poll_seconds=60.0,
        clock=clock,
        wall=clock,
        rng=random.Random(SEED),
    )


def three_locations(
    time: int | str = START, utc_offset_seconds: int = 0, **current: float
) -> list[dict[str, Any]]:
    """An answer for STATIONS, temperatures 3.4, 4.4 and 5.4 °C."""
    return [
        open_meteo_location(
            i,
            s.latitude,
            s.longitude,
            time=time,
            utc_offset_seconds=utc_offset_seconds,
            temperature_2m=3.4 + i,
            **current,
        )
        for i, s in enumerate(STATIONS)
    ]


def serve(
    server: HTTPServer,
    path: str,
    body: object,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> None:
    """From now on, answer ``path`` with ``body`` (JSON, or a string sent as is)."""
    server.clear_all_handlers()
    handler = server.expect_request(path)
    if isinstance(body, str):
        handler.respond_with_data(
            body, status=status, headers=headers, content_type="application/json"
        )
    else:
        handler.respond_with_json(body, status=status, headers=headers)


def requests(server: HTTPServer) -> int:
    return len(server.log)


# Open-Meteo: mapping ------------------------------------------------------------------------


def test_open_meteo_array_gives_one_observation_per_station_in_canonical_names(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    serve(httpserver, FORECAST, three_locations())
    source = open_meteo(httpserver, clock)
    assert source.state() == "waiting"

    observations = source.poll()

    assert [o.station_id for o in observations] == ["ber", "lon", "nyc"]
    assert [o.observed_at for o in observations] == [START] * 3
    assert observations[1].values == {
        "temperature_c": 4.4,
        "humidity_pct": 87.0,
        "precip_mm": 0.2,
        "pressure_msl_hpa": 996.3,
        "pressure_hpa": 991.6,
        "wind_speed_ms": 7.42,
        "wind_dir_deg": 236.0,
        "wind_gust_ms": 15.8,
    }
    assert (observations[2].lat, observations[2].lon) == (40.7128, -74.0060)
    assert {o.source for o in observations} == {"open-meteo"}
    assert source.state() == "ok"
    assert source.drain_rejections() == []
    source.close()


def test_open_meteo_asks_once_for_all_stations_in_utc_epoch_seconds_and_m_s(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    serve(httpserver, FORECAST, three_locations())
    source = open_meteo(httpserver, clock)
    source.poll()
    ((request, _),) = httpserver.log
    assert request.args["latitude"] == "52.5200,51.5074,40.7128"
    assert request.args["longitude"] == "13.4100,-0.1278,-74.0060"
    assert request.args["current"].split(",") == [
        "temperature_2m",
        "relative_humidity_2m",
        "precipitation",
        "pressure_msl",
        "surface_pressure",
        "wind_speed_10m",
        "wind_direction_10m",
        "wind_gusts_10m",
    ]
    assert request.args["wind_speed_unit"] == "ms"
    assert request.args["timeformat"] == "unixtime"
    assert request.args["timezone"] == "GMT"
    assert request.headers["User-Agent"].startswith("mass-tui/")
    source.close()


def test_open_meteo_local_iso_times_are_shifted_by_utc_offset_seconds(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    # 13:15 local at UTC+1 is 12:15Z.
    serve(httpserver, FORECAST, three_locations(time="2026-01-15T13:15", utc_offset_seconds=3600))
    source = open_meteo(httpserver, clock)
    assert [o.observed_at for o in source.poll()] == [START] * 3
    source.close()


def test_open_meteo_single_location_answers_with_one_object(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    body = open_meteo_location(0, 52.52, 13.42, time="2026-01-15T12:15")  # the sample's shape
    serve(httpserver, FORECAST, body)
    source = open_meteo(httpserver, clock, stations=STATIONS[:1])
    (observation,) = source.poll()
    assert (observation.station_id, observation.observed_at) == ("ber", START)
    assert observation.values["temperature_c"] == 3.4
    source.close()


def test_open_meteo_matches_locations_by_location_id_not_position(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    first, second, third = three_locations()
    serve(httpserver, FORECAST, [first, third, second])
    source = open_meteo(httpserver, clock)
    observations = {o.station_id: o.values["temperature_c"] for o in source.poll()}
    assert observations == {"ber": 3.4, "lon": 4.4, "nyc": 5.4}
    source.close()


def test_open_meteo_wind_in_km_h_and_mph_is_converted_to_m_s(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    locations = three_locations(wind_speed_10m=36.0, wind_gusts_10m=50.0)
    for location in locations:
        location["current_units"]["wind_speed_10m"] = "km/h"
        location["current_units"]["wind_gusts_10m"] = "mp/h"
    serve(httpserver, FORECAST, locations)
    source = open_meteo(httpserver, clock)
    values = source.poll()[0].values
    assert values["wind_speed_ms"] == pytest.approx(10.0)
    assert values["wind_gust_ms"] == pytest.approx(22.352)
    source.close()


def test_open_meteo_unknown_unit_rejects_only_that_reading(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    locations = three_locations()
    locations[0]["current_units"]["wind_gusts_10m"] = "furlong/fortnight"
    serve(httpserver, FORECAST, locations)
    source = open_meteo(httpserver, clock)
    observations = source.poll()
    assert len(observations) == 3
    assert "wind_gust_ms" not in observations[0].values
    assert observations[0].values["wind_speed_ms"] == 7.42
    (rejection,) = source.drain_rejections()
    assert rejection.reason == "unknown unit 'furlong/fortnight' for current.wind_gusts_10m"
    assert (rejection.station_id, rejection.variable) == ("ber", "wind_gust_ms")
    source.close()


# Open-Meteo: malformed bodies ---------------------------------------------------------------


def test_truncated_json_becomes_a_rejection_and_a_retry_not_a_crash(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    text = json.dumps(three_locations())
    serve(httpserver, FORECAST, text[: len(text) // 2])
    source = open_meteo(httpserver, clock)

    assert source.poll() == []

    (rejection,) = source.drain_rejections()
    assert rejection.reason == "truncated JSON"
    assert rejection.payload == text[: len(text) // 2]
    assert (rejection.source, rejection.received_at) == ("open-meteo", START)
    assert source.state() == "retrying in 2 s (truncated JSON)"
    source.close()


def test_a_huge_non_json_body_is_kept_truncated_to_10_kb(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    serve(httpserver, FORECAST, "<html>" + "x" * 50_000)
    source = open_meteo(httpserver, clock)
    assert source.poll() == []
    (rejection,) = source.drain_rejections()
    assert rejection.reason.startswith("malformed JSON")
    assert len(rejection.payload) == PAYLOAD_LIMIT_BYTES
    assert rejection.payload.startswith("<html>xxx")
    source.close()


def test_missing_current_time_rejects_the_location_and_a_missing_variable_only_the_reading(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    locations = three_locations()
    del locations[1]["current"]["time"]
    del locations[2]["current"]["wind_gusts_10m"]
    locations[0]["current"]["precipitation"] = None  # the API's "no data": left out, no fuss
    serve(httpserver, FORECAST, locations)
    source = open_meteo(httpserver, clock)

    observations = source.poll()

    assert [o.station_id for o in observations] == ["ber", "nyc"]
    assert "precip_mm" not in observations[0].values
    assert "wind_gust_ms" not in observations[1].values
    assert observations[1].values["wind_speed_ms"] == 7.42
    rejections = source.drain_rejections()
    assert [(r.station_id, r.variable, r.reason) for r in rejections] == [
        ("lon", None, "missing current.time"),
        ("nyc", "wind_gust_ms", "missing current.wind_gusts_10m"),
    ]
    assert '"location_id":1' in rejections[0].payload
    assert source.state() == "ok"  # a usable answer, with parts quarantined
    source.close()


def test_an_unchanged_observation_time_is_not_emitted_again(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    serve(httpserver, FORECAST, three_locations())
    source = open_meteo(httpserver, clock)
    assert len(source.poll()) == 3

    clock.advance(60)
    assert source.poll() == []
    assert requests(httpserver) == 2

    locations = three_locations()
    locations[2]["current"]["time"] = START + 900
    serve(httpserver, FORECAST, locations)
    clock.advance(60)
    assert [(o.station_id, o.observed_at) for o in source.poll()] == [("nyc", START + 900)]
    source.close()


def test_requests_wait_for_poll_seconds_while_poll_returns_at_once(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    serve(httpserver, FORECAST, three_locations())
    source = open_meteo(httpserver, clock)
    assert source.poll_interval_s == 1.0
    source.poll()
    clock.advance(59.9)
    source.poll()
    assert requests(httpserver) == 1
    clock.advance(0.1)
    source.poll()
    assert requests(httpserver) == 2
    source.close()


# Retries and backoff ------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["120", "http-date"])
def test_429_waits_for_retry_after_before_the_next_request(
    httpserver: HTTPServer, clock: FixedClock, header: str
) -> None:
    retry_after = formatdate(START + 120, usegmt=True) if header == "http-date" else header
    serve(httpserver, FORECAST, OPEN_METEO_ERROR_429, 429, headers={"Retry-After": retry_after})
    source = open_meteo(httpserver, clock)

    assert source.poll() == []
    assert source.state() == (
        "retrying in 120 s (HTTP 429: Minutely API request limit exceeded. "
        "Please try again in one minute.)"
    )
    serve(httpserver, FORECAST, three_locations())
    clock.advance(119)
    assert source.poll() == []
    assert requests(httpserver) == 1  # polled early: no request made
    clock.advance(1)
    assert len(source.poll()) == 3
    assert requests(httpserver) == 2
    assert source.state() == "ok"
    source.close()


def test_server_errors_back_off_exponentially_with_seeded_jitter_then_fail(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    serve(httpserver, FORECAST, "oops", 500)
    source = open_meteo(httpserver, clock)
    jitter = random.Random(SEED)
    delays = [base * (1 - 0.2 * jitter.random()) for base in (2.0, 4.0, 8.0)]

    source.poll()
    failed_at = clock.now()
    assert (
        source.state() == f"retrying in {math.ceil(delays[0])} s (HTTP 500: INTERNAL SERVER ERROR)"
    )
    for attempt, delay in enumerate(delays, start=2):
        assert 0.8 * 2 ** (attempt - 1) <= delay <= 2 ** (attempt - 1)
        clock.set(failed_at + delay - 0.01)
        source.poll()
        assert requests(httpserver) == attempt - 1
        clock.set(failed_at + delay)
        source.poll()
        assert requests(httpserver) == attempt
        failed_at = clock.now()

    assert source.state() == "failing since 12:15:00Z: HTTP 500: INTERNAL SERVER ERROR"
    source.close()


def test_third_attempt_still_says_retrying_only_after_that_failing(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    serve(httpserver, FORECAST, "busy", 503)
    source = open_meteo(httpserver, clock, retry=RetryPolicy(jitter=0.0))
    source.poll()
    assert source.state() == "retrying in 2 s (HTTP 503: SERVICE UNAVAILABLE)"
    clock.advance(2)
    source.poll()
    assert source.state() == "retrying in 4 s (HTTP 503: SERVICE UNAVAILABLE)"
    clock.advance(4)
    source.poll()
    assert source.state() == "failing since 12:15:00Z: HTTP 503: SERVICE UNAVAILABLE"
    source.close()


def test_recovery_resets_the_backoff_and_the_state(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    serve(httpserver, FORECAST, "busy", 503)
    source = open_meteo(httpserver, clock, retry=RetryPolicy(jitter=0.0))
    for wait in (2, 4, 8):
        source.poll()
        clock.advance(wait)
    serve(httpserver, FORECAST, three_locations())
    assert len(source.poll()) == 3
    assert source.state() == "ok"
    asked = requests(httpserver)
    clock.advance(59.9)  # the usual interval again, not the backoff's
    source.poll()
    assert requests(httpserver) == asked

    serve(httpserver, FORECAST, "busy", 503)
    clock.advance(0.1)
    source.poll()
    assert source.state() == "retrying in 2 s (HTTP 503: SERVICE UNAVAILABLE)"  # from the start
    source.close()


def test_each_error_is_logged_once_per_failure_streak(
    httpserver: HTTPServer, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pipeline.sources.http_client")
    serve(httpserver, FORECAST, "busy", 503)
    source = open_meteo(httpserver, clock, retry=RetryPolicy(jitter=0.0))
    for wait in (2, 4, 8, 16):
        source.poll()
        clock.advance(wait)
    serve(httpserver, FORECAST, three_locations())
    source.poll()
    serve(httpserver, FORECAST, "busy", 503)
    clock.advance(60)
    source.poll()  # a new streak: said again

    messages = [(r.levelname, r.getMessage()) for r in caplog.records if r.name.startswith("pipe")]
    assert [level for level, _ in messages] == ["WARNING", "INFO", "WARNING"]
    assert "open-meteo: HTTP 503: SERVICE UNAVAILABLE (GET http://127.0.0.1:" in messages[0][1]
    assert messages[1][1] == "open-meteo: recovered after 4 failed attempts"
    source.close()


def test_open_meteo_400_reports_the_api_reason_and_does_not_retry_soon(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    serve(httpserver, FORECAST, OPEN_METEO_ERROR_400, 400)
    source = open_meteo(httpserver, clock)
    source.poll()
    assert source.state() == (
        "retrying in 300 s (HTTP 400: Cannot initialize WeatherVariable from invalid String "
        "value tempeture_2m for key hourly)"
    )
    clock.advance(299)
    source.poll()
    assert requests(httpserver) == 1
    source.close()


def test_a_read_timeout_is_a_failed_attempt_not_an_exception(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.5)
        return Response("[]", content_type="application/json")

    httpserver.expect_request(FORECAST).respond_with_handler(slow)
    source = open_meteo(httpserver, clock, timeout_s=0.2)
    assert source.poll() == []
    assert source.state() == "retrying in 2 s (read timeout after 0.2 s)"
    assert source.drain_rejections() == []
    source.close()
    # The single-threaded test server is still asleep in the handler: let it finish here, not
    # in the middle of the next test.
    deadline = time.monotonic() + 5
    while not httpserver.log and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_refused_connection_is_a_failed_attempt(clock: FixedClock) -> None:
    source = OpenMeteoSource(
        STATIONS, api_base="http://127.0.0.1:9", clock=clock, wall=clock, rng=random.Random(1)
    )
    assert source.poll() == []
    assert source.state().startswith("retrying in 2 s (ConnectError: ")
    source.close()


def test_retry_delays_are_capped_and_jitter_only_shortens_them() -> None:
    policy = RetryPolicy()
    rng = random.Random(SEED)
    assert all(240.0 <= policy.delay(n, rng) <= 300.0 for n in (9, 20, 5000))
    assert 1.6 <= policy.delay(1, rng) <= 2.0


# OpenWeatherMap ------------------------------------------------------------------------------


def test_owm_maps_a_metric_body_to_canonical_names(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    serve(httpserver, WEATHER, owm_current(dt=START, temp=21.3))
    source = owm(httpserver, clock)
    (observation,) = source.poll()
    assert (observation.station_id, observation.observed_at) == ("ber", START)
    assert observation.source == "openweathermap"
    assert observation.values == {
        "temperature_c": 21.3,
        "humidity_pct": 64.0,
        "pressure_msl_hpa": 1015.0,
        "pressure_hpa": 933.0,
        "wind_speed_ms": 0.62,
        "wind_gust_ms": 1.18,
        "wind_dir_deg": 349.0,
        "precip_mm": 3.16,
    }
    ((request, _),) = httpserver.log
    assert dict(request.args) == {
        "lat": "52.5200",
        "lon": "13.4100",
        "appid": API_KEY,
        "units": "metric",
    }
    source.close()


def test_owm_without_gust_rain_or_ground_pressure(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    body = owm_current(dt=START, temp=12.0, drop=("wind.gust", "rain", "main.grnd_level"))
    serve(httpserver, WEATHER, body)
    source = owm(httpserver, clock)
    (observation,) = source.poll()
    assert "wind_gust_ms" not in observation.values
    assert "pressure_hpa" not in observation.values
    assert observation.values["precip_mm"] == 0.0  # no rain object: none in the last hour
    assert source.drain_rejections() == []
    source.close()


def test_owm_kelvin_temperatures_are_converted_when_units_metric_was_ignored(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    serve(httpserver, WEATHER, owm_current(dt=START))  # the sample as documented: 298.48 K
    source = owm(httpserver, clock)
    (observation,) = source.poll()
    assert observation.values["temperature_c"] == pytest.approx(25.33)
    source.close()


def test_owm_polls_every_station_and_skips_unchanged_dt(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    serve(httpserver, WEATHER, owm_current(dt=START, temp=5.0))
    source = owm(httpserver, clock, stations=STATIONS)
    assert [o.station_id for o in source.poll()] == ["ber", "lon", "nyc"]
    assert [r.args["lat"] for r, _ in httpserver.log] == ["52.5200", "51.5074", "40.7128"]
    clock.advance(60)
    assert source.poll() == []
    assert requests(httpserver) == 6
    source.close()


def test_owm_401_is_reported_once_backs_off_to_the_maximum_and_never_shows_the_key(
    httpserver: HTTPServer, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    serve(httpserver, WEATHER, OWM_ERROR_401, 401)
    source = owm(httpserver, clock, stations=STATIONS)

    source.poll()
    assert requests(httpserver) == 1  # the round stops at the first refusal
    assert source.state() == "retrying in 300 s (HTTP 401: invalid or not yet activated API key)"
    for _ in range(3):
        clock.advance(299)
        source.poll()
        clock.advance(1)
        before = requests(httpserver)
        source.poll()
        assert requests(httpserver) == before + 1
    assert requests(httpserver) == 4

    assert source.state().startswith("failing since 12:")
    assert source.state().endswith(": HTTP 401: invalid or not yet activated API key")
    ours = [r for r in caplog.records if r.name.startswith("pipeline.")]
    assert [(r.levelno, "401" in r.getMessage()) for r in ours] == [(logging.ERROR, True)]
    assert "appid=***" in ours[0].getMessage()
    assert any("appid=***" in r.getMessage() for r in caplog.records if r.name == "httpx")
    client_side = [r for r in caplog.records if r.name != "werkzeug"]  # not the test server's
    assert all(API_KEY not in r.getMessage() for r in client_side)
    assert API_KEY not in source.state()
    source.close()


def test_owm_key_is_redacted_from_rejections(httpserver: HTTPServer, clock: FixedClock) -> None:
    serve(httpserver, WEATHER, f'{{"message": "bad key {API_KEY}", "cod": 2')
    source = owm(httpserver, clock)
    source.poll()
    (rejection,) = source.drain_rejections()
    assert rejection.reason == "truncated JSON"
    assert API_KEY not in rejection.payload
    assert "bad key ***" in rejection.payload
    source.close()


def test_owm_missing_dt_rejects_that_station_and_the_round_goes_on(
    httpserver: HTTPServer, clock: FixedClock
) -> None:
    body = owm_current(dt=START, temp=5.0, drop=("dt", "wind.deg"))
    serve(httpserver, WEATHER, body)
    source = owm(httpserver, clock, stations=STATIONS[:2])
    assert source.poll() == []
    rejections = source.drain_rejections()
    assert [(r.station_id, r.reason) for r in rejections] == [
        ("ber", "missing dt"),
        ("lon", "missing dt"),
    ]
    assert source.state() == "ok"
    serve(httpserver, WEATHER, owm_current(dt=START, temp=5.0, drop=("wind.deg",)))
    clock.advance(60)
    observations = source.poll()
    assert len(observations) == 2 and "wind_dir_deg" not in observations[0].values
    assert [(r.variable, r.reason) for r in source.drain_rejections()] == [
        ("wind_dir_deg", "missing wind.deg"),
    ] * 2
    source.close()
