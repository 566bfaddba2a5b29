"""One time formatter and one parser (pipeline/times.py), station time zones, and the
console's T: times in UTC or in each station's local time."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from pipeline.stations import DEFAULT_STATIONS
from pipeline.times import (
    clock_text,
    file_stamp,
    iso_utc,
    parse_instant,
    station_zone,
    zone_problem,
)
from tests.conftest import START, make_console
from widgets.trend_chart import clock_ticks

SIZE = (120, 40)
NEW_YORK = ZoneInfo("America/New_York")
ZONES = {
    "nyc": "America/New_York",
    "lon": "Europe/London",
    "tyo": "Asia/Tokyo",
    "syd": "Australia/Sydney",
    "dxb": "Asia/Dubai",
}


def test_clock_text_names_its_clock_when_it_shows_the_date():
    assert clock_text(START) == "00:00:00"
    assert clock_text(START, date=True) == "2026-01-01 00:00:00Z"
    assert clock_text(START, NEW_YORK, date=True) == "2025-12-31 19:00:00 EST"
    assert clock_text(START + 90, minutes_only=True) == "00:01"
    assert file_stamp(START + 61.5) == "20260101T000101Z"


def test_a_naive_time_is_utc_for_a_person_and_refused_where_it_may_be_a_mistake():
    assert parse_instant("2026-01-01T00:00:00") == START
    assert parse_instant("2026-01-01T01:00:00+01:00") == START
    assert parse_instant(str(START)) == START
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_instant("2026-01-01T00:00:00", naive_is_utc=False)
    with pytest.raises(ValueError, match="not a time"):
        parse_instant("yesterday")
    assert iso_utc(parse_instant("2026-01-01T00:00:00Z")) == "2026-01-01T00:00:00Z"


def test_a_station_without_a_configured_zone_gets_the_one_its_position_lies_in():
    zones = {s.station_id: str(station_zone("", s.latitude, s.longitude)) for s in DEFAULT_STATIONS}
    assert zones == ZONES
    assert station_zone("Asia/Kolkata", 51.5, -0.1) == ZoneInfo("Asia/Kolkata")  # configured
    assert station_zone("", math.nan, math.nan) is UTC  # no position: UTC
    assert zone_problem("Europe/London") is None
    assert "unknown time zone" in (zone_problem("Mars/Olympus") or "")


def test_a_half_hour_zone_ticks_on_its_own_round_times():
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30
    ticks, labels = clock_ticks(START + 3600, 3600.0, kolkata)
    assert labels and all(label.endswith(("0", "5")) for label in labels)
    moments = [START + 3600 + t for t in ticks]
    assert [datetime.fromtimestamp(m, kolkata).minute % 5 for m in moments] == [0] * len(moments)


def test_an_unknown_station_zone_in_config_is_a_one_line_error(tmp_path):
    from mass_tui.settings_layers import ConfigError, load_settings

    config = tmp_path / "bad.toml"
    config.write_text(
        '[[stations]]\nname = "Reading"\nlatitude = 51.4\nlongitude = -0.9\n'
        'timezone = "Nowhere/X"\n'
    )
    with pytest.raises(ConfigError, match="Reading: unknown time zone 'Nowhere/X'"):
        load_settings(config_path=config, environ={}, user_config=tmp_path / "u.toml")


async def test_T_shows_each_stations_local_time_and_saves_the_choice(tmp_path):
    import tomllib

    from widgets.anomaly_log import AnomalyLog
    from widgets.status_bar import StatusBar

    console = make_console(tmp_path, steps=330)
    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = console.app.query_one(AnomalyLog)
        utc_times = [log.get_row_at(i)[0] for i in range(log.row_count)]
        assert "05:29:00Z" in str(console.app.query_one(StatusBar).render())
        await pilot.press("T")
        await pilot.pause()
        # New York is selected: the status clock reads its time, named.
        assert "00:29:00 EST" in str(console.app.query_one(StatusBar).render())
        assert str(log.ordered_columns[0].label) == "local"
        stations = [log.get_row_at(i)[1] for i in range(log.row_count)]
        local_times = [log.get_row_at(i)[0] for i in range(log.row_count)]
        for station, utc, local in zip(stations, utc_times, local_times, strict=True):
            shift = datetime.fromtimestamp(START, ZoneInfo(ZONES[str(station)])).utcoffset()
            assert shift is not None
            expected = (datetime.strptime(str(utc), "%H:%M:%S") + shift).strftime("%H:%M:%S")
            assert str(local) == expected
        saved = tomllib.loads(console.loaded.user_config.read_text())
        assert saved["ui"]["time"] == "station"
        await pilot.press("T")
        await pilot.pause()
        assert str(log.ordered_columns[0].label) == "time"
        assert [log.get_row_at(i)[0] for i in range(log.row_count)] == utc_times
