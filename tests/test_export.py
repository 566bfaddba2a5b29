"""``mass-tui export``: what the store kept, as CSV, JSON lines and Parquet read back by other
readers (the csv module, json, polars), while the store stays open for writing."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mass_tui.cli import main
from pipeline.alert_history import AlertHistory
from pipeline.alerts import Alert
from pipeline.anomaly import Anomaly
from pipeline.stations import Station
from pipeline.store import Store

VARIABLES = ("temperature_c", "pressure_hpa")
T0 = 1_780_000_000.0  # 2026-05-28T20:26:40Z
HOSTILE = '=HYPERLINK("http://x")'  # a station id a spreadsheet would run as a formula


@pytest.fixture
def data_dir(tmp_path: Path):
    """A store with two stations' readings (one missing value), an anomaly and an alert's
    transitions; left open for writing, as a running console leaves it."""
    store = Store(tmp_path / "mass.sqlite3", VARIABLES, retention_s=1e9)
    for station, offset in (
        (Station("lon", "London", 51.5, -0.1), 0.0),
        (Station(HOSTILE, "x", math.nan, math.nan), 5.0),
    ):
        key = store.station_key(station)
        store.write(
            station_keys=np.full(3, key),
            observed_at=T0 + offset + np.array([0.0, 60.0, 120.0]),
            values=np.array([[10.0, 1000.0], [11.0, np.nan], [12.0, 1002.0]]),
            source="test",
            anomalies=[
                Anomaly(
                    station_id="lon",
                    variable="temperature_c",
                    value=12.0,
                    detector="zscore",
                    score=0.7,
                    threshold=6.0,
                    observed_at=T0 + 120.0,
                    statistic=9.0,
                )
            ]
            if offset == 0.0
            else (),
        )
    history = AlertHistory(tmp_path / "mass.sqlite3")
    alert = Alert(1, "lon", "gust", "wind_gust_ms", "warning", "active", T0, T0, 27.0, 27.0, 25.9)
    history(alert)
    history(
        replace(
            alert,
            state="acknowledged",
            acknowledged_by="ana",
            acknowledged_at=T0 + 30,
            updated_at=T0 + 30,
            last_transition="acknowledged",
        )
    )
    history.close()
    yield tmp_path
    store.close()


def export(data_dir: Path, *args: str) -> int:
    return main(["export", "--data-dir", str(data_dir), *args])


def test_observations_as_csv_have_utc_times_empty_missing_values_and_no_formulas(
    data_dir: Path, capsys
):
    out = data_dir / "o.csv"
    assert export(data_dir, "--output", str(out)) == 0
    rows = list(csv.DictReader(out.open(newline="")))
    assert [r["station_id"] for r in rows] == ["lon", "'" + HOSTILE] * 3
    assert rows[0]["observed_at"] == "2026-05-28T20:26:40Z"
    assert rows[2]["pressure_hpa"] == ""  # missing, not 0 nor "nan"
    assert float(rows[4]["temperature_c"]) == 12.0
    assert "6 observations" in capsys.readouterr().err


def test_parquet_keeps_types_and_times_for_other_tools(data_dir: Path):
    out = data_dir / "o.parquet"
    assert export(data_dir, "--output", str(out), "--station", "lon") == 0
    frame = pl.read_parquet(out)
    assert frame.schema["observed_at"] == pl.Datetime("us", "UTC")
    assert frame.schema["temperature_c"] == pl.Float64
    assert frame["station_id"].to_list() == ["lon"] * 3  # a station id is data, unchanged
    assert frame["observed_at"][0].timestamp() == T0
    assert frame["pressure_hpa"].null_count() == 1


def test_the_span_is_inclusive_and_times_may_be_iso_or_epoch(data_dir: Path, capsys):
    assert (
        export(
            data_dir,
            "--what",
            "anomalies",
            "--format",
            "jsonl",
            "--since",
            "2026-05-28T20:28:40Z",
            "--until",
            str(T0 + 120),
        )
        == 0
    )
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [(r["detector"], r["observed_at"]) for r in records] == [
        ("zscore", "2026-05-28T20:28:40Z")
    ]
    assert "1 anomalies since 2026-05-28T20:28:40Z until 2026-05-28T20:28:40Z" in captured.err
    assert export(data_dir, "--what", "anomalies", "--since", str(T0 + 121)) == 0
    assert capsys.readouterr().out.splitlines() == [
        "station_id,variable,value,detector,score,threshold,observed_at,statistic,quantity,"
        "severity,event_start"
    ]


def test_alert_transitions_say_who_acknowledged(data_dir: Path):
    out = data_dir / "a.jsonl"
    assert export(data_dir, "--what", "alerts", "--output", str(out)) == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(e["transition"], e["by_user"]) for e in events] == [
        ("opened", None),
        ("acknowledged", "ana"),
    ]


def test_an_empty_parquet_export_is_a_readable_file(data_dir: Path):
    out = data_dir / "none.parquet"
    assert export(data_dir, "--output", str(out), "--since", "2030-01-01") == 0
    assert pl.read_parquet(out).height == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--output", "/nonexistent/dir/x.csv"], "cannot write /nonexistent/dir/x.csv"),
        (["--format", "parquet"], "Parquet is written to a file"),
        (["--since", "2026-06-01", "--until", "2026-05-01"], "--since is after --until"),
        (["--output", "x.json"], "cannot tell the format from '.json'"),
    ],
)
def test_what_cannot_be_done_is_said_in_one_line_and_leaves_no_file(
    data_dir: Path, capsys, args: list[str], says: str
):
    before = set(data_dir.iterdir())
    assert export(data_dir, *args) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert set(data_dir.iterdir()) == before


def test_a_directory_with_no_store_says_so(tmp_path: Path, capsys):
    assert export(tmp_path) == 2
    assert "no store at" in capsys.readouterr().err


def test_a_symlink_is_written_through_and_a_files_permissions_kept(data_dir: Path):
    real, link = data_dir / "real.csv", data_dir / "link.csv"
    real.write_text("old")
    real.chmod(0o600)
    link.symlink_to(real)
    assert export(data_dir, "--output", str(link)) == 0
    assert link.is_symlink() and real.read_text().startswith("station_id,")
    assert export(data_dir, "--output", str(real)) == 0
    assert real.stat().st_mode & 0o777 == 0o600
    assert not list(data_dir.glob(".*.partial"))


def test_parquet_has_one_schema_whatever_the_rows_hold(data_dir: Path):
    empty, alerts = data_dir / "empty.parquet", data_dir / "alerts.parquet"
    assert export(data_dir, "--output", str(empty), "--since", "2030-01-01") == 0
    assert export(data_dir, "--what", "alerts", "--output", str(alerts)) == 0
    assert pl.read_parquet(empty).schema["station_id"] == pl.String
    schema = pl.read_parquet(alerts).schema
    assert schema["silenced_until"] == pl.Datetime("us", "UTC")  # null in every row
    assert (schema["by_user"], schema["alert_id"]) == (pl.String, pl.Int64)


def test_a_station_not_in_the_store_is_named_and_none_known_exits_1(data_dir: Path, capsys):
    out = data_dir / "o.csv"
    assert export(data_dir, "--station", "lon", "--station", "ly\x1bn", "--output", str(out)) == 0
    err = capsys.readouterr().err
    assert "warning: not in" in err and "'ly\\x1bn'" in err and "\x1b" not in err
    assert "3 observations" in err and len(out.read_text().splitlines()) == 4
    assert export(data_dir, "--station", "nobody", "--station", "nyc", "--output", str(out)) == 1
    err = capsys.readouterr().err
    assert "none of the stations asked for is in" in err and "'nobody', 'nyc'" in err
    assert out.read_text().splitlines()[0].startswith("station_id,")  # still written, empty
    assert len(out.read_text().splitlines()) == 1


def test_formula_variants_are_neutralised_in_text_cells_and_numbers_stay_numbers(tmp_path: Path):
    store = Store(tmp_path / "mass.sqlite3", VARIABLES, retention_s=1e9)
    hostile = (" =1+1", "\n=cmd|' /C calc'!A0", "\u3000@SUM(A1)", "\uff1d1+1", "\uff0b1", "\uff0d1")
    hostile += ("\uff20x", "\t=x", "-3.5")
    for i, station_id in enumerate(hostile):
        key = store.station_key(Station(station_id, "x", math.nan, math.nan))
        store.write(
            station_keys=np.full(1, key),
            observed_at=np.array([T0 + i]),
            values=np.array([[-3.5, -1e-3]]),
            source="+source" if i == 0 else "test",
            anomalies=(),
        )
    store.close()
    out = tmp_path / "o.csv"
    assert export(tmp_path, "--output", str(out)) == 0
    rows = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
    assert [r["station_id"] for r in rows] == ["'" + s for s in hostile]
    assert rows[0]["source"] == "'+source" and rows[1]["source"] == "test"
    assert {(r["temperature_c"], r["pressure_hpa"]) for r in rows} == {("-3.5", "-0.001")}
