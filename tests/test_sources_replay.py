"""Replaying JSONL and CSV files: pacing, speed, loops, bad lines, CSV units, missing cells,
local times and stations, and the demo stream."""

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from pipeline.clock import FixedClock
from pipeline.codec import decode_observation, encode_observation
from pipeline.observation import Observation
from pipeline.quarantine import Rejection
from pipeline.sources.replay import ReplaySource, demo_stream_path
from pipeline.sources.replay_csv import CsvColumns, TimeParser, time_zone
from pipeline.stations import Station
from pipeline.units import input_unit

T0 = 1_767_225_600.0


def observations(n: int, spacing: float = 60.0) -> list[Observation]:
    return [
        Observation("lon", "London", 51.5, -0.1, T0 + i * spacing, "file", {"temperature_c": i})
        for i in range(n)
    ]


def write_jsonl(
    path: Path, items: list[Observation], extra_lines: dict[int, str] | None = None
) -> Path:
    lines = [encode_observation(o).decode() for o in items]
    for index, text in sorted((extra_lines or {}).items()):
        lines.insert(index, text)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fast_replay_returns_the_file_in_batches(tmp_path):
    source = ReplaySource(
        write_jsonl(tmp_path / "a.jsonl", observations(25)),
        clock=FixedClock(0),
        pace="fast",
        batch=10,
    )
    batches = [source.poll() for _ in range(4)]
    assert [len(b) for b in batches] == [10, 10, 5, 0]
    assert [o for b in batches for o in b] == observations(25)
    assert source.state() == "replay finished (25 observations, 0 bad lines)"


def test_recorded_pace_with_speed_plays_on_time_and_not_early(tmp_path):
    clock = FixedClock(1000.0)
    source = ReplaySource(
        write_jsonl(tmp_path / "a.jsonl", observations(5)), clock=clock, pace="recorded", speed=60.0
    )
    assert len(source.poll()) == 1  # the first reading is due at once
    clock.advance(0.5)  # half a minute of recorded time at 60x
    assert source.poll() == []
    clock.advance(0.5)
    assert [o.observed_at for o in source.poll()] == [T0 + 60]
    clock.advance(3.0)
    assert [o.observed_at for o in source.poll()] == [T0 + 120, T0 + 180, T0 + 240]
    assert source.state().startswith("replay finished")


def test_loop_keeps_times_increasing(tmp_path):
    source = ReplaySource(
        write_jsonl(tmp_path / "a.jsonl", observations(3)),
        clock=FixedClock(0),
        pace="fast",
        batch=7,
        loop=True,
    )
    times = [o.observed_at for o in source.poll()]
    assert times == [T0, T0 + 60, T0 + 120, T0 + 180, T0 + 240, T0 + 300, T0 + 360]
    assert source.state() == "ok"


def test_bad_lines_are_rejected_with_line_numbers_and_the_replay_goes_on(tmp_path):
    path = write_jsonl(
        tmp_path / "a.jsonl", observations(3), {1: '{"station_id": "lon", "observed', 3: "not json"}
    )
    source = ReplaySource(path, clock=FixedClock(0), pace="fast")
    assert len(source.poll()) == 3
    reasons = [r.reason for r in source.drain_rejections()]
    assert reasons[0].startswith("a.jsonl line 2: malformed JSON")
    assert reasons[1].startswith("a.jsonl line 4: malformed JSON")
    assert source.drain_rejections() == []
    assert source.state() == "replay finished (3 observations, 2 bad lines)"


def write_jsonl_bytes(path: Path, items: list[Observation], bad: dict[int, bytes]) -> Path:
    lines = [encode_observation(o) for o in items]
    for index, raw in sorted(bad.items()):
        lines.insert(index, raw)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_a_line_of_invalid_utf8_is_one_bad_line_and_the_replay_goes_on(tmp_path):
    bad = b'{"station_id": "l\xffn", "observed_at": 0, "values": {}}'
    path = write_jsonl_bytes(tmp_path / "a.jsonl", observations(4), {2: bad})
    source = ReplaySource(path, clock=FixedClock(0), pace="fast")
    assert source.poll() == observations(4)
    (rejection,) = source.drain_rejections()
    assert rejection.reason.startswith("a.jsonl line 3: ")
    assert "\ufffd" in rejection.payload  # the bytes as received, replaced, not dropped
    assert source.state() == "replay finished (4 observations, 1 bad lines)"


def test_json_nested_2000_levels_deep_is_one_bad_line(tmp_path):
    deep = b'{"station_id": "lon", "observed_at": 0, "values": {}, "x": '
    deep += b"[" * 2500 + b"]" * 2500 + b"}"
    path = write_jsonl_bytes(tmp_path / "a.jsonl", observations(3), {1: deep})
    source = ReplaySource(path, clock=FixedClock(0), pace="fast")
    assert source.poll() == observations(3)
    (rejection,) = source.drain_rejections()
    assert rejection.reason.startswith("a.jsonl line 2: ")
    assert source.state() == "replay finished (3 observations, 1 bad lines)"


def replay_csv(path: Path, columns: CsvColumns, stations=()) -> tuple[list, list]:
    source = ReplaySource(
        path, clock=FixedClock(0), pace="fast", csv_columns=columns, stations=stations
    )
    return source.poll(), source.drain_rejections()


def test_csv_with_a_column_mapping(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(
        "when,site,t,slp\n"
        "2026-01-01T00:00:00Z,rdg,4.5,1012.0\n"
        "2026-01-01T00:10:00Z,rdg,oops,1011.5\n"
        "2026-01-01T00:20:00,rdg,4.1,1011.0\n"
        f"{T0 + 1800:.0f},rdg,3.9,\n"
    )
    columns = CsvColumns(
        time="when", station="site", variables={"temperature_c": "t", "pressure_msl_hpa": "slp"}
    )
    got, rejected = replay_csv(path, columns)
    assert [(o.station_id, o.observed_at, o.values) for o in got] == [
        ("rdg", T0, {"temperature_c": 4.5, "pressure_msl_hpa": 1012.0}),
        ("rdg", T0 + 600, {"pressure_msl_hpa": 1011.5}),  # only the bad reading is lost
        ("rdg", T0 + 1200, {"temperature_c": 4.1, "pressure_msl_hpa": 1011.0}),  # naive: UTC
        ("rdg", T0 + 1800, {"temperature_c": 3.9}),  # epoch seconds; an empty cell is missing
    ]
    (bad,) = rejected
    assert bad.reason == "s.csv line 3: column 't': not a number: 'oops'"
    assert (bad.variable, bad.station_id) == ("temperature_c", "rdg")


def test_fahrenheit_mph_and_inches_become_celsius_metres_per_second_and_mm_at_reading(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("timestamp,t,w,p,slp\n2026-01-01T00:00:00Z,50,10,0.5,29.92\n")
    units = {
        "temperature_c": input_unit("degF", "°C"),
        "wind_speed_ms": input_unit("mph", "m/s"),
        "precip_mm": input_unit("in", "mm"),
        "pressure_msl_hpa": input_unit("inHg", "hPa"),
    }
    variables = {"temperature_c": "t", "wind_speed_ms": "w", "precip_mm": "p"}
    columns = CsvColumns(variables={**variables, "pressure_msl_hpa": "slp"}, units=units)
    (observation,), _ = replay_csv(path, columns)
    assert observation.values == pytest.approx(
        {
            "temperature_c": 10.0,
            "wind_speed_ms": 4.4704,
            "precip_mm": 12.7,
            "pressure_msl_hpa": 1013.21,
        },
        abs=0.01,
    )


def test_each_supported_unit_converts_to_the_canonical_one():
    cases = [
        ("degC", "°C", 20, 20),
        ("degF", "°C", 212, 100),
        ("K", "°C", 273.15, 0),
        ("m/s", "m/s", 3, 3),
        ("km/h", "m/s", 36, 10),
        ("mph", "m/s", 1, 0.44704),
        ("kn", "m/s", 1, 0.514444),
        ("hPa", "hPa", 1000, 1000),
        ("mbar", "hPa", 1000, 1000),
        ("Pa", "hPa", 101325, 1013.25),
        ("kPa", "hPa", 101.325, 1013.25),
        ("inHg", "hPa", 29.92, 1013.21),
        ("mmHg", "hPa", 760, 1013.25),
        ("mm", "mm", 2, 2),
        ("in", "mm", 1, 25.4),
        ("cm", "mm", 1, 10),
    ]
    for label, canonical, value, expected in cases:
        got = input_unit(label, canonical).to_canonical(value)
        assert got == pytest.approx(expected, abs=0.01), label


def test_an_unknown_unit_or_one_of_another_quantity_is_refused():
    with pytest.raises(ValueError, match="unknown unit 'furlong/fortnight'"):
        input_unit("furlong/fortnight", "m/s")
    with pytest.raises(ValueError, match="'mph' is a unit of speed, not of temperature"):
        input_unit("mph", "°C")


def test_missing_markers_lose_that_reading_only_and_the_row_is_analysed(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(
        "timestamp,t,rh,w\n"
        "2026-01-01T00:00:00Z,NA,80,3.0\n"
        "2026-01-01T00:10:00Z,4.5,M,-9999.0\n"
        "2026-01-01T00:20:00Z,,nan,-9999\n"
        "2026-01-01T00:30:00Z,4.1,---,n/a\n"
    )
    columns = CsvColumns(
        variables={"temperature_c": "t", "humidity_pct": "rh", "wind_speed_ms": "w"}
    )
    got, rejected = replay_csv(path, columns)
    assert [o.values for o in got] == [
        {"humidity_pct": 80.0, "wind_speed_ms": 3.0},
        {"temperature_c": 4.5},
        {},
        {"temperature_c": 4.1},
    ]
    assert rejected == []


def test_a_byte_order_mark_does_not_hide_the_first_column(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(b"\xef\xbb\xbftimestamp,t\r\n2026-01-01T00:00:00Z,4.5\r\n")
    got, _ = replay_csv(path, CsvColumns(variables={"temperature_c": "t"}))
    assert [(o.observed_at, o.values) for o in got] == [(T0, {"temperature_c": 4.5})]


def test_a_csv_row_of_invalid_utf8_is_one_bad_line_and_the_replay_goes_on(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(
        b"timestamp,site,t\n2026-01-01T00:00:00Z,a,1\n2026-01-01T00:01:00Z,\xff\xfe,2\n"
        b"2026-01-01T00:02:00Z,a,3\n"
    )
    columns = CsvColumns(station="site", variables={"temperature_c": "t"})
    got, rejected = replay_csv(path, columns)
    assert [o.values["temperature_c"] for o in got] == [1.0, 3.0]
    (bad,) = rejected
    assert bad.reason.startswith("s.csv line 3: not UTF-8") and bad.variable is None


def test_a_row_whose_time_cannot_be_read_is_one_bad_line(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(
        "timestamp,t\n2026-01-01T00:00:00Z,1\nyesterday,2\nnan,3\n2026-01-01T00:02:00Z,4\n"
    )
    got, rejected = replay_csv(path, CsvColumns(variables={"temperature_c": "t"}))
    assert [o.values["temperature_c"] for o in got] == [1.0, 4.0]
    assert [r.reason.split(":")[0] for r in rejected] == ["s.csv line 3", "s.csv line 4"]
    assert "cannot read time 'yesterday'" in rejected[0].reason


def new_york(text: str) -> float:
    return TimeParser(zone=time_zone("America/New_York")).parse(text)


def test_naive_new_york_times_across_the_spring_change_are_one_hour_apart():
    # 2024-03-10: 01:59 EST is followed by 03:00 EDT.
    assert new_york("2024-03-10 01:51") == datetime(2024, 3, 10, 6, 51, tzinfo=UTC).timestamp()
    assert new_york("2024-03-10 03:51") == datetime(2024, 3, 10, 7, 51, tzinfo=UTC).timestamp()
    assert new_york("2024-07-01 12:00") == datetime(2024, 7, 1, 16, 0, tzinfo=UTC).timestamp()


def test_the_repeated_autumn_hour_of_local_times_goes_forward():
    # 2024-11-03: 01:00-01:59 happens twice, first in EDT (UTC-4), then in EST (UTC-5).
    parser = TimeParser(zone=time_zone("America/New_York"))
    first = parser.parse("2024-11-03 01:30")
    second = parser.parse("2024-11-03 01:30", after=first)
    later = parser.parse("2024-11-03 01:45", after=second)
    assert first == datetime(2024, 11, 3, 5, 30, tzinfo=UTC).timestamp()
    assert (second - first, later - second) == (3600, 900)


def test_a_time_format_and_a_day_ending_at_24_00():
    parser = TimeParser("%m/%d/%Y %H:%M", time_zone("Etc/GMT+5"))  # UTC-5 all year
    assert parser.parse("01/01/1988 24:00") == datetime(1988, 1, 2, 5, tzinfo=UTC).timestamp()
    with pytest.raises(ValueError):
        parser.parse("1988-01-01T01:00")


def test_an_unknown_time_zone_is_refused():
    with pytest.raises(ValueError, match="unknown time zone 'America/NewYork'"):
        time_zone("America/NewYork")


def test_a_station_column_matched_to_the_configured_stations_by_name(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(
        "timestamp,site,t\n2026-01-01T00:00:00Z,london,4.5\n2026-01-01T00:00:00Z,Leeds,3.0\n"
    )
    stations = [Station("lon", "London", 51.5074, -0.1278, 11.0)]
    got, _ = replay_csv(
        path, CsvColumns(station="site", variables={"temperature_c": "t"}), stations
    )
    assert [(o.station_id, o.station_name, o.lat, o.lon) for o in got[:1]] == [
        ("lon", "London", 51.5074, -0.1278)
    ]
    assert (got[1].station_id, got[1].station_name) == ("Leeds", "Leeds")
    assert np.isnan(got[1].lat) and np.isnan(got[1].lon)


def test_an_unknown_mapped_column_is_refused_naming_it_and_the_header(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("valid,tmpf\n2026-01-01T00:00:00Z,40\n")
    columns = CsvColumns(time="valid", variables={"temperature_c": "temp"})
    with pytest.raises(ValueError) as caught:
        ReplaySource(path, clock=FixedClock(0), csv_columns=columns)
    assert str(caught.value) == (
        "s.csv has no column 'temp' (csv.variables.temperature_c); its header (line 1): valid, tmpf"
    )


def test_a_file_missing_at_the_start_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"cannot read .*nope\.jsonl: No such file"):
        ReplaySource(tmp_path / "nope.jsonl", clock=FixedClock(0), pace="fast")


def test_a_file_gone_once_playing_is_a_state_not_an_exception(tmp_path):
    path = tmp_path / "gone.jsonl"
    path.write_text("")
    source = ReplaySource(path, clock=FixedClock(0), pace="fast")
    path.unlink()
    assert source.poll() == []
    assert source.state().startswith(f"cannot read {path}")


def test_the_demo_stream_is_sound_and_holds_a_pressure_fall():
    lines = demo_stream_path().read_bytes().splitlines()
    decoded, rejected = decode_all(lines, received_at=0, source="demo")
    assert rejected == [] and len(decoded) == 360
    assert {o.station_id for o in decoded} == {"nyc", "lon", "tyo", "syd", "dxb"}
    london = sorted(
        (o.observed_at, o.values["pressure_msl_hpa"]) for o in decoded if o.station_id == "lon"
    )
    times, pressure = np.array(london).T
    # The pressure-fall rule's quantity: the highest reading of the last 3 h minus this one.
    worst = max(
        pressure[(times >= t - 3 * 3600) & (times <= t)].max() - p
        for t, p in zip(times, pressure, strict=True)
    )
    assert worst > 3.5


def test_a_jsonl_file_saved_with_a_byte_order_mark_loses_no_reading(tmp_path):
    """Its first line was one rejected line ("invalid character")."""
    path = write_jsonl(tmp_path / "bom.jsonl", observations(3))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    source = ReplaySource(path, clock=FixedClock(0), pace="fast", batch=10)
    assert source.poll() == observations(3)
    assert source.drain_rejections() == []


def decode_all(payloads, *, received_at, source):
    """Each payload decoded on its own: (observations, rejections)."""
    results = [decode_observation(p, received_at=received_at, source=source) for p in payloads]
    return (
        [r for r in results if not isinstance(r, Rejection)],
        [r for r in results if isinstance(r, Rejection)],
    )
