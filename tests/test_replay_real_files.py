"""Station files as they come, replayed with a ``[source.replay.csv]`` mapping: a real TMY3 file,
and files modelled on an IEM ASOS export, a personal weather station's export and a Campbell
TOA5 logger table (origins in tests/data/README.md)."""

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from mass_tui.assemble import build_pipeline, csv_columns, csv_station
from mass_tui.settings_layers import ConfigError, load_settings
from pipeline.clock import FixedClock
from pipeline.observation import Observation
from pipeline.settings import CsvSettings
from pipeline.sources.replay import ReplaySource
from pipeline.stations import DEFAULT_STATIONS
from pipeline.variables import STANDARD_VARIABLES

DATA = Path(__file__).parent / "data"
MASS_TUI = Path(sys.executable).parent / "mass-tui"

IEM = CsvSettings(
    time_column="valid",
    timezone="America/New_York",
    station_column="station",
    latitude_column="lat",
    longitude_column="lon",
    variables={
        "temperature_c": "tmpf",
        "humidity_pct": "relh",
        "wind_dir_deg": "drct",
        "wind_speed_ms": "sknt",
        "wind_gust_ms": "gust",
        "precip_mm": "p01i",
        "pressure_msl_hpa": "mslp",
    },
    units={
        "temperature_c": "degF",
        "wind_speed_ms": "kn",
        "wind_gust_ms": "kn",
        "precip_mm": "in",
        "pressure_msl_hpa": "mbar",
    },
)


def replay(name: str, csv: CsvSettings) -> tuple[list[Observation], ReplaySource]:
    source = ReplaySource(
        DATA / name,
        clock=FixedClock(0),
        pace="fast",
        batch=100_000,
        csv_columns=csv_columns(csv, STANDARD_VARIABLES),
        stations=csv_station(csv) or DEFAULT_STATIONS,
    )
    return source.poll(), source


def utc(*fields: int) -> float:
    return datetime(*fields, tzinfo=UTC).timestamp()


def test_a_real_tmy3_file_loads_as_it_is():
    csv = CsvSettings(
        header_line=2,  # line 1 is the station: id, name, state, UTC offset, lat, lon, elevation
        date_column="Date (MM/DD/YYYY)",
        time_column="Time (HH:MM)",
        time_format="%m/%d/%Y %H:%M",
        timezone="Etc/GMT+9",  # local standard time, UTC-9, all year
        station_id="703165",
        latitude=55.317,
        longitude=-160.517,
        elevation_m=7,
        variables={
            "temperature_c": "Dry-bulb (C)",
            "humidity_pct": "RHum (%)",
            "pressure_hpa": "Pressure (mbar)",
            "wind_dir_deg": "Wdir (degrees)",
            "wind_speed_ms": "Wspd (m/s)",
            "precip_mm": "Lprecip depth (mm)",
        },
        units={"pressure_hpa": "mbar"},
    )
    got, source = replay("tmy3_703165_sand_point.csv", csv)
    assert len(got) == 200 and source.drain_rejections() == []
    times = np.array([o.observed_at for o in got])
    assert times[0] == utc(1997, 1, 1, 10)  # 01:00 at UTC-9
    assert set(np.diff(times)) == {3600.0}  # 24:00 is the next day's midnight, not an error
    first = got[0]
    assert (first.station_id, first.lat, first.lon) == ("703165", 55.317, -160.517)
    assert first.values == {
        "temperature_c": 4.0,
        "humidity_pct": 93.0,
        "pressure_hpa": 1012.0,
        "wind_dir_deg": 320.0,
        "wind_speed_ms": 2.1,
    }  # Lprecip depth is -9900 (missing) in the file but on one row, line 165: 0 mm
    assert [(o.observed_at, o.values["precip_mm"]) for o in got if "precip_mm" in o.values] == [
        (utc(1997, 1, 8, 4), 0.0)
    ]


def test_an_iem_asos_export_in_local_time_with_m_cells():
    got, source = replay("iem_asos_rdu_dst.csv", IEM)
    assert len(got) == 73 and source.drain_rejections() == []  # every row, M cells or not
    by_time = {o.observed_at: o for o in got}
    # 2024-03-10 01:51 EST, then (02:51 does not exist) 03:51 EDT: an hour apart.
    before, after = utc(2024, 3, 10, 6, 51), utc(2024, 3, 10, 7, 51)
    assert before in by_time and after in by_time
    first = got[0]
    assert first.observed_at == utc(2024, 3, 9, 5, 51)
    assert (first.station_id, first.lat, first.lon) == ("RDU", 35.8923, -78.7875)
    assert first.values == pytest.approx(
        {
            "temperature_c": (43.34 - 32) * 5 / 9,
            "humidity_pct": 65.99,
            "wind_dir_deg": 210.0,
            "wind_speed_ms": 9 * 1852 / 3600,
            "precip_mm": 0.0,
            "pressure_msl_hpa": 1021.66,
        }
    )
    assert "wind_gust_ms" not in first.values  # gust M: missing, the rest analysed
    assert sum("wind_gust_ms" in o.values for o in got) == 9  # the rows with a gust


def test_a_weather_station_export_with_a_bom_12_hour_times_and_na_cells():
    csv = CsvSettings(
        time_column="Time",
        time_format="%m/%d/%Y %I:%M %p",
        timezone="America/New_York",
        station_id="KNCRALEI123",
        latitude=35.78,
        longitude=-78.64,
        variables={
            "temperature_c": "Temperature (°F)",
            "humidity_pct": "Humidity (%)",
            "wind_speed_ms": "Wind Speed (mph)",
            "wind_gust_ms": "Wind Gust (mph)",
            "pressure_msl_hpa": "Pressure (inHg)",
            "precip_mm": "Precip. Accum. (in)",
        },
        units={
            "temperature_c": "degF",
            "wind_speed_ms": "mph",
            "wind_gust_ms": "mph",
            "pressure_msl_hpa": "inHg",
            "precip_mm": "in",
        },
    )
    got, source = replay("pws_export_autumn_change.csv", csv)
    assert len(got) == 108 and source.drain_rejections() == []
    times = np.array([o.observed_at for o in got])
    # 22:00 EDT to 04:55 EST: 01:00-01:55 comes twice, and time still goes forward 5 min a row.
    assert times[0] == utc(2024, 11, 3, 2, 0) and set(np.diff(times)) == {300.0}
    assert got[0].values["temperature_c"] == pytest.approx((53.8 - 32) * 5 / 9)
    assert got[0].values["pressure_msl_hpa"] == pytest.approx(30.12 * 33.8638866667)
    assert (got[0].lat, got[0].lon) == (35.78, -78.64)
    assert "wind_gust_ms" not in got[4].values and got[4].values["wind_speed_ms"] > 0
    assert got[60].values == {}  # a row of NA only is a report of nothing, not a bad line


def test_a_toa5_logger_table_with_units_lines_and_nan_cells():
    csv = CsvSettings(
        time_column="TIMESTAMP",
        header_line=2,
        data_line=5,  # lines 3 and 4 give units and processing
        timezone="Etc/GMT-1",  # the logger keeps CET all year
        station_id="lindenberg",
        latitude=52.21,
        longitude=14.12,
        variables={
            "temperature_c": "AirTC_Avg",
            "wind_speed_ms": "WS_kmh_Avg",
            "wind_gust_ms": "WS_kmh_Max",
            "pressure_hpa": "BP_hPa_Avg",
        },
        units={"wind_speed_ms": "km/h", "wind_gust_ms": "km/h"},
    )
    got, source = replay("toa5_10min.csv", csv)
    assert len(got) == 72 and source.drain_rejections() == []
    assert got[0].observed_at == utc(2024, 3, 30, 23, 10)
    assert got[0].values["wind_speed_ms"] == pytest.approx(13.10 / 3.6)
    assert [("wind_speed_ms" in o.values) for o in got[29:34]] == [True, False, False, False, True]
    assert "pressure_hpa" not in got[50].values  # -9999


def test_units_of_the_wrong_quantity_stop_the_start_with_one_line(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        '[source]\nkind = "replay"\n[source.replay]\npath = "x.csv"\n'
        '[source.replay.csv]\nvariables = { temperature_c = "t" }\n'
        'units = { temperature_c = "mph" }\n'
    )
    loaded = load_settings(config_path=config, environ={}, user_config=tmp_path / "u")
    with pytest.raises(ConfigError) as caught:
        build_pipeline(loaded, store=None, environ={})
    assert str(caught.value) == (
        "config error: source replay: csv.units.temperature_c: 'mph' is a unit of speed, "
        "not of temperature (°C)"
    )


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ('variables = { tmp = "t" }', "csv.variables.tmp: no variable 'tmp'"),
        ('time_format = "%Q"\nvariables = { temperature_c = "t" }', "csv.time_format: "),
        ('station_id = ""\nvariables = { temperature_c = "t" }', "csv.station_id: missing"),
        (
            'station_id = "a\\u001b[2Jb"\nvariables = { temperature_c = "t" }',
            "csv.station_id: station_id 'a\\x1b[2Jb' has control characters",
        ),
    ],
    ids=["undeclared-variable", "bad-time-format", "empty-station-id", "escape-in-station-id"],
)
def test_a_mapping_that_would_fail_every_row_stops_the_start(tmp_path, mapping, message):
    """Each of these started, then rejected every row of the file one by one."""
    config = tmp_path / "c.toml"
    config.write_text(
        '[source]\nkind = "replay"\n[source.replay]\npath = "x.csv"\n'
        f"[source.replay.csv]\n{mapping}\n"
    )
    loaded = load_settings(config_path=config, environ={}, user_config=tmp_path / "u")
    with pytest.raises(ConfigError) as caught:
        build_pipeline(loaded, store=None, environ={})
    assert message in str(caught.value) and "\x1b" not in str(caught.value)


def test_fixed_coordinates_make_the_file_one_known_station_with_its_elevation(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        f'[source]\nkind = "replay"\n[source.replay]\npath = "{DATA / "toa5_10min.csv"}"\n'
        '[source.replay.csv]\ntime_column = "TIMESTAMP"\nheader_line = 2\ndata_line = 5\n'
        'station_id = "lindenberg"\nlatitude = 52.21\nlongitude = 14.12\nelevation_m = 98.0\n'
        'variables = { temperature_c = "AirTC_Avg" }\n'
    )
    loaded = load_settings(config_path=config, environ={}, user_config=tmp_path / "u")
    pipeline = build_pipeline(loaded, store=None, environ={})
    assert [
        (s.station_id, s.latitude, s.longitude, s.elevation_m) for s in pipeline.registry.stations
    ] == [("lindenberg", 52.21, 14.12, 98.0)]


def headless(tmp_path: Path, csv: Path, config: str) -> subprocess.CompletedProcess:
    """``mass-tui headless`` on ``csv`` with ``config`` as its settings file, fast pace; it
    exits at the replay's end, --duration only bounds a run that would not."""
    settings = tmp_path / "replay.toml"
    settings.write_text('[source.replay]\npace = "fast"\n\n[source.replay.csv]\n' + config)
    return subprocess.run(
        [
            *(str(MASS_TUI), "headless", "--config", str(settings), "--source", f"replay:{csv}"),
            *("--data-dir", str(tmp_path / "data"), "--duration", "60"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


IEM_TOML = """time_column = "valid"
timezone = "America/New_York"
station_column = "station"
latitude_column = "lat"
longitude_column = "lon"

[source.replay.csv.variables]
temperature_c = "tmpf"
wind_speed_ms = "sknt"
wind_gust_ms = "gust"
precip_mm = "p01i"
pressure_msl_hpa = "mslp"

[source.replay.csv.units]
temperature_c = "degF"
wind_speed_ms = "kn"
wind_gust_ms = "kn"
precip_mm = "in"
pressure_msl_hpa = "mbar"
"""


def test_headless_replays_an_iem_export_and_stores_every_row(tmp_path):
    result = headless(tmp_path, DATA / "iem_asos_rdu_dst.csv", IEM_TOML)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "replay finished (73 observations, 0 bad lines)" in result.stderr
    with sqlite3.connect(tmp_path / "data" / "mass.sqlite3") as db:
        (stored,) = db.execute("SELECT count(*) FROM observations").fetchone()
        stations = db.execute("SELECT station_id, latitude, longitude FROM stations").fetchall()
    assert stored == 73
    assert stations == [("RDU", 35.8923, -78.7875)]


def test_headless_refuses_a_mapped_column_the_file_lacks_in_one_line(tmp_path):
    result = headless(tmp_path, DATA / "iem_asos_rdu_dst.csv", IEM_TOML.replace('"tmpf"', '"temp"'))
    assert result.returncode == 2
    assert result.stderr.startswith(
        "mass-tui: config error: source replay: iem_asos_rdu_dst.csv has no column 'temp' "
        "(csv.variables.temperature_c); its header (line 1): station, valid, lon, lat, tmpf,"
    )
    assert len(result.stderr.splitlines()) == 1
