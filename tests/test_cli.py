"""`mass-tui` commands run as a user runs them: as subprocesses."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import headless_lines

MASS_TUI = [sys.executable, "-m", "mass_tui"]


def run(args, cwd, timeout=120, **kwargs):
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        MASS_TUI + args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **kwargs
    )


def test_version_and_help(tmp_path):
    assert run(["--version"], tmp_path).stdout.startswith("mass-tui ")
    help_text = run(["--help"], tmp_path).stdout
    for command in ("headless", "score", "bench"):
        assert command in help_text


def fast_simulation(tmp_path: Path, extra: str = "") -> Path:
    """A config that runs an hour of observed time a second, with a front starting at once."""
    config = tmp_path / "fast.toml"
    config.write_text(
        "[simulator]\nrate_per_station = 20.0\ntime_scale = 1200.0\nfaults_per_day = 24.0\n"
        "start = '2026-01-01T00:00:00Z'\n" + extra
    )
    return config


def test_headless_streams_anomalies_as_json_lines_and_summarises(tmp_path):
    config = fast_simulation(tmp_path)
    result = run(
        ["headless", "--duration", "6", "--config", str(config), "--data-dir", str(tmp_path / "d")],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    anomalies, _ = headless_lines(result.stdout)
    assert anomalies, "six seconds at 1200x should produce anomalies"
    first = anomalies[0]
    assert set(first) >= {
        "station_id",
        "variable",
        "value",
        "detector",
        "score",
        "threshold",
        "observed_at",
        "statistic",
        "quantity",
        "severity",
    }
    assert first["observed_at"].endswith("Z")
    assert all(0 <= a["score"] <= 1 for a in anomalies)
    assert "observations" in result.stderr and "anomalies" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "d" / "mass.sqlite3").exists()
    assert (tmp_path / "d" / "logs" / "mass-tui.log").exists()


def test_headless_prints_alert_transitions_of_the_demo_front(tmp_path):
    config = fast_simulation(tmp_path, "demo_front = true\n")
    result = run(
        ["headless", "--duration", "8", "--config", str(config), "--data-dir", str(tmp_path / "d")],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    _, events = headless_lines(result.stdout)
    opened = [e for e in events if e["transition"] == "opened"]
    assert any(e["alert"]["rule"] == "pressure_fall" for e in opened), result.stdout[-2000:]
    first = opened[0]["alert"]
    assert first["opened_at"].endswith("Z") and first["state"] == "active"
    assert first["severity"] in ("advisory", "warning")


def test_headless_stops_cleanly_on_ctrl_c_with_everything_stored(tmp_path):
    config = fast_simulation(tmp_path)
    env = {**os.environ}
    proc = subprocess.Popen(
        [*MASS_TUI, "headless", "--config", str(config), "--data-dir", str(tmp_path / "d")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    summary = err.strip().splitlines()[-1]
    stored = int(re.search(r"([\d,]+) observations stored", summary)[1].replace(",", ""))
    accepted = int(re.search(r"([\d,]+) analysed", summary)[1].replace(",", ""))
    assert accepted > 0 and stored == accepted
    assert " 0 lost" in summary

    import sqlite3

    with sqlite3.connect(tmp_path / "d" / "mass.sqlite3") as db:
        (rows,) = db.execute("select count(*) from observations").fetchone()
    assert rows == accepted


def test_invalid_config_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[detectors.zscore]\nwindow = -1\n")
    result = run(["headless", "--duration", "1", "--config", str(bad)], tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert str(bad) in result.stderr and "detectors.zscore.window" in result.stderr


def test_unwritable_data_dir_is_reported_without_traceback(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run(["headless", "--duration", "1", "--data-dir", str(blocker / "sub")], tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "storage error" in result.stderr


def write_series(path: Path, values, bad_lines=()):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value", "note"])
        for i, value in enumerate(values):
            text = "oops" if i in bad_lines else f"{value:.3f}"
            writer.writerow([f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z", text, f"row{i}"])


def test_score_writes_every_row_with_scores_and_flags_the_step(tmp_path):
    rng = np.random.default_rng(1)
    values = 10 + rng.normal(0, 0.2, 400)
    values[300] += 8.0  # a spike well past warm-up
    source = tmp_path / "in.csv"
    write_series(source, values, bad_lines={50})
    out = tmp_path / "out.csv"
    result = run(["score", str(source), "--output", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "line 52: cannot parse value 'oops'" in result.stderr  # header is line 1
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 400
    assert rows[0].keys() >= {
        "timestamp",
        "value",
        "note",
        "anomaly_score",
        "zscore_score",
        "ewma_score",
        "cusum_score",
    }
    assert rows[50]["anomaly_score"] == "" and rows[50]["note"] == "row50"
    scores = np.array([float(r["anomaly_score"]) for r in rows[100:] if r["anomaly_score"]])
    assert scores.max() == pytest.approx(float(rows[300]["anomaly_score"]))
    assert float(rows[300]["zscore_score"]) > 0.5
    assert np.median(scores) < 0.5


def test_score_reports_a_missing_column(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("time,reading\n1,2\n")
    result = run(["score", str(source)], tmp_path)
    assert result.returncode == 2
    assert "no column 'timestamp'" in result.stderr


def test_bench_json_has_the_promised_fields(tmp_path):
    result = run(["bench", "--json", "--observations", "20000", "--stations", "20"], tmp_path)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    for key in (
        "obs_per_s",
        "obs_per_s_detect_only",
        "peak_rss_mb",
        "n_obs",
        "event_recall",
        "false_alarms_per_1k",
    ):
        assert key in figures
    assert figures["n_obs"] == 20000
    assert figures["obs_per_s"] > 0 and 0 <= figures["event_recall"] <= 1
