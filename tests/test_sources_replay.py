"""Replaying JSONL and CSV files: pacing, speed, loops, bad lines and the demo stream."""

from pathlib import Path

import numpy as np

from pipeline.clock import FixedClock
from pipeline.codec import decode_observations, encode_observation
from pipeline.observation import Observation
from pipeline.sources.replay import CsvColumns, ReplaySource, demo_stream_path, parse_replay_spec

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
    source = ReplaySource(path, clock=FixedClock(0), pace="fast", csv_columns=columns)
    got = source.poll()
    assert [(o.station_id, o.observed_at, o.values) for o in got] == [
        ("rdg", T0, {"temperature_c": 4.5, "pressure_msl_hpa": 1012.0}),
        ("rdg", T0 + 1800, {"temperature_c": 3.9}),
    ]
    reasons = [r.reason for r in source.drain_rejections()]
    assert reasons[0].startswith("s.csv line 3: ValueError") and "oops" in reasons[0]
    assert reasons[1].startswith("s.csv line 4: ValueError") and "no UTC offset" in reasons[1]


def test_a_missing_file_is_a_state_not_an_exception(tmp_path):
    source = ReplaySource(tmp_path / "nope.jsonl", clock=FixedClock(0), pace="fast")
    assert source.poll() == []
    assert source.state().startswith(f"cannot read {tmp_path / 'nope.jsonl'}")


def test_replay_spec_without_a_path_means_the_demo_stream():
    assert parse_replay_spec("replay:") is None
    assert parse_replay_spec("replay:/data/x.jsonl") == Path("/data/x.jsonl")


def test_the_demo_stream_is_sound_and_holds_a_pressure_fall():
    lines = demo_stream_path().read_bytes().splitlines()
    decoded, rejected = decode_observations(lines, received_at=0, source="demo")
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
