"""`mass-tui` commands run as a user runs them: as subprocesses."""

import argparse
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

from mass_tui.score_arguments import add_score_arguments
from mass_tui.scoring import run_score
from mass_tui.settings_layers import ConfigError, load_settings
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
    assert "observations" in result.stderr
    events = int(re.search(r"([\d,]+) anomaly events", result.stderr).group(1).replace(",", ""))
    assert 0 < events <= len(anomalies)  # an event's later rows are lines of their own
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
    assert f"cannot use the data directory {blocker / 'sub'}" in result.stderr


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
    assert rows[50]["note"] == "row50"
    assert rows[50]["anomaly_score"] == "0.0000" and rows[50]["zscore_score"] == ""
    assert all(r["anomaly_score"] for r in rows)  # a number on every row: rankable
    scores = np.array([float(r["anomaly_score"]) for r in rows[100:]])
    assert scores.max() == pytest.approx(float(rows[300]["anomaly_score"]))
    assert float(rows[300]["zscore_score"]) > 0.5
    assert np.median(scores) < 0.5


def test_score_reports_a_missing_column(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("time,reading\n1,2\n")
    result = run(["score", str(source)], tmp_path)
    assert result.returncode == 2
    assert "no column 'timestamp'" in result.stderr


def test_score_takes_empty_and_na_value_cells_as_missing_not_as_errors(tmp_path):
    source = tmp_path / "in.csv"
    write_series(source, 10 + np.random.default_rng(2).normal(0, 0.2, 200))
    lines = source.read_text().splitlines()
    lines[101] = lines[101].replace(lines[101].split(",")[1], "")  # an empty value cell
    lines[121] = lines[121].replace(lines[121].split(",")[1], "NA")
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    result = run(["score", str(source), "--output", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "cannot parse" not in result.stderr
    assert "2 rows with a missing value (anomaly_score 0)" in result.stderr
    rows = list(csv.DictReader(out.open()))
    assert [rows[100]["anomaly_score"], rows[120]["anomaly_score"]] == ["0.0000", "0.0000"]
    assert rows[100]["zscore_score"] == "" and rows[102]["zscore_score"] != ""


def test_score_piped_into_head_stops_quietly(tmp_path):
    source = tmp_path / "in.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value"])
        for i, value in enumerate(np.random.default_rng(3).normal(10, 0.2, 20_000)):
            writer.writerow([f"{1_767_225_600 + 60 * i}", f"{value:.3f}"])
    result = subprocess.run(
        f"{sys.executable} -m mass_tui score in.csv 2>err.txt | head -1",
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout == "timestamp,value,anomaly_score,zscore_score,ewma_score,cusum_score\n"
    assert (tmp_path / "err.txt").read_text() == ""


def score_in_process(tmp_path: Path, argv: list[str]) -> int:
    """``mass-tui score`` with the flags scoring declares (add_score_arguments)."""
    parser = argparse.ArgumentParser()
    add_score_arguments(parser)
    loaded = load_settings(environ={}, user_config=tmp_path / "user.toml")
    return run_score(parser.parse_args(argv), loaded)


def series_with_a_gap(path: Path, gap_s: float) -> None:
    """300 readings a minute apart, then ``gap_s`` of silence, then 300 more."""
    values = 10 + np.random.default_rng(4).normal(0, 0.2, 600)
    times = 1_767_225_600 + 60.0 * np.arange(600)
    times[300:] += gap_s
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value"])
        writer.writerows([f"{t:.0f}", f"{v:.3f}"] for t, v in zip(times, values, strict=True))


def test_score_max_gap_restarts_the_warm_up_and_says_how_many_rows_it_cost(tmp_path, capsys):
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    series_with_a_gap(source, 7200)
    assert score_in_process(tmp_path, [str(source), "--output", str(out)]) == 0
    assert "restarted" not in capsys.readouterr().err  # 2 h is within the default 3 h
    assert list(csv.DictReader(out.open()))[300]["zscore_score"] != ""

    assert score_in_process(tmp_path, [str(source), "--output", str(out), "--max-gap", "3600"]) == 0
    err = capsys.readouterr().err
    rows = list(csv.DictReader(out.open()))
    unscored = [i for i, r in enumerate(rows[300:], 300) if not r["zscore_score"]]
    assert unscored and unscored == list(range(300, 300 + len(unscored)))
    assert f"1 gaps longer than 3600 s restarted the warm-up: {len(unscored)} rows" in err
    assert all(rows[i]["anomaly_score"] == "0.0000" for i in unscored)


def test_score_naive_times_in_a_time_zone_across_the_autumn_change(tmp_path, capsys):
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value"])
        for minutes in range(0, 180, 5):  # 00:00-02:55 New York time; 01:xx happens twice
            hour, minute = divmod(minutes if minutes < 120 else minutes - 60, 60)
            writer.writerow([f"2024-11-03 {hour:02d}:{minute:02d}", "10.0"])
    assert score_in_process(tmp_path, [str(source), "--output", str(out)]) == 0
    assert "is out of time order" in capsys.readouterr().err  # read as UTC
    argv = [str(source), "--output", str(out), "--timezone", "America/New_York"]
    assert score_in_process(tmp_path, argv) == 0
    assert "could not be used" in (err := capsys.readouterr().err) and "(0 could" in err


def test_score_refuses_an_unknown_time_zone_in_one_line(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("timestamp,value\n1,2\n")
    with pytest.raises(ConfigError, match="--timezone: unknown time zone 'Mars/Olympus'"):
        score_in_process(tmp_path, [str(source), "--timezone", "Mars/Olympus"])


def test_bench_json_has_the_promised_fields(tmp_path):
    result = run(["bench", "--json", "--observations", "20000", "--stations", "20"], tmp_path)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    for key in (
        "obs_per_s",
        "obs_per_s_detect_only",
        "obs_per_s_from_json",
        "obs_per_s_from_json_detect_only",
        "decode_only_obs_per_s",
        "peak_rss_mb",
        "bench_peak_rss_mb",
        "n_obs",
        "event_recall",
        "false_alarms_per_1k",
    ):
        assert key in figures
    assert figures["n_obs"] == 20000
    assert figures["obs_per_s"] > 0 and 0 <= figures["event_recall"] <= 1
    assert 0 < figures["peak_rss_mb"] < figures["bench_peak_rss_mb"]  # no simulator in it


def test_a_replay_whose_file_goes_away_ends_with_exit_1_and_says_why(tmp_path):
    """The looping replay could not open its file for the next pass: what was left unplayed
    is lost, and the run said so only in passing and exited 0."""
    stream = tmp_path / "obs.jsonl"
    stream.write_text(
        "".join(
            json.dumps(
                {
                    "station_id": "s1",
                    "observed_at": 1_767_225_600 + 60 * i,
                    "values": {"temperature_c": 10.0 + i % 3},
                }
            )
            + "\n"
            for i in range(50)
        )
    )
    config = tmp_path / "loop.toml"
    config.write_text("[source.replay]\nloop = true\npace = 'fast'\n")
    args = ["--config", str(config), "--data-dir", str(tmp_path / "d")]
    proc = subprocess.Popen(
        [*MASS_TUI, "headless", *args, "--source", f"replay:{stream}"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2)
    stream.unlink()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    assert "cannot read" in err.strip().splitlines()[-1]


def test_a_path_with_terminal_escapes_reaches_stderr_escaped(tmp_path):
    result = run(
        ["headless", "--duration", "1", "--config", str(tmp_path / "no\x1b[2Jpe.toml")], tmp_path
    )
    assert result.returncode == 2
    assert "\x1b" not in result.stderr and "\\x1b[2J" in result.stderr
    data = ["--data-dir", str(tmp_path / "d")]
    result = run(["headless", *data, "--source", "replay:gone\x1b]0;x\x07.jsonl"], tmp_path)
    assert result.returncode == 2
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("mass-tui exp", "export"),
        ("mass-tui export --what ", "observations anomalies alerts"),
        ("mass-tui export --output mass-tui.b", "mass-tui.bash"),  # files complete
    ],
)
def test_bash_completion_completes_commands_and_choices(tmp_path, words: str, expected: str):
    script = tmp_path / "mass-tui.bash"
    done = run(["completion", "bash"], tmp_path)
    assert done.returncode == 0, done.stderr
    script.write_text(done.stdout)
    parts = words.split(" ")
    probe = (
        f"source {script}; COMP_WORDS=({' '.join(repr(p) for p in parts)}); "
        f"COMP_CWORD={len(parts) - 1}; COMP_LINE={words!r}; COMP_POINT=${{#COMP_LINE}}; "
        '_shtab_mass_tui; echo "${COMPREPLY[@]}"'
    )
    completed = subprocess.run(
        ["bash", "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert completed.stdout.strip() == expected


def test_help_gives_examples_the_precedence_and_every_environment_variable(tmp_path):
    from mass_tui.settings_layers import ENVIRONMENT_KEYS

    done = run(["--help"], tmp_path)
    assert "examples:" in done.stdout and "highest precedence first" in done.stdout
    listed = " ".join(done.stdout.split())
    assert all(name in listed for name in ("MASS_TUI_CONFIG", *ENVIRONMENT_KEYS, "SMTP_PASS"))
