"""`mass-tui headless --source ...` against real servers on loopback (and a dead one)."""

import json
import os
import socket
import subprocess
import sys

from tests.conftest import headless_lines
from tests.http_samples import OPEN_METEO_CURRENT

MASS_TUI = [sys.executable, "-m", "mass_tui"]


def headless(tmp_path, args, env):
    return subprocess.run(
        [*MASS_TUI, "headless", "--data-dir", str(tmp_path / "d"), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def open_meteo_body(n_stations: int, gust: float) -> list[dict]:
    """One location per configured station, shaped as Open-Meteo documents a multi-location
    answer; the first station reports a damaging gust."""
    body = []
    for i in range(n_stations):
        location = json.loads(OPEN_METEO_CURRENT)
        location["current"]["time"] = 1_790_000_000 + 0
        location["current_units"]["time"] = "unixtime"
        location["current"]["wind_gusts_10m"] = gust if i == 0 else 9.0
        if i:
            location["location_id"] = i
        body.append(location)
    return body


def test_headless_open_meteo_from_a_loopback_server_gives_observations_and_anomalies(
    tmp_path, httpserver
):
    httpserver.expect_request("/v1/forecast").respond_with_json(open_meteo_body(5, gust=31.0))
    result = headless(
        tmp_path,
        ["--source", "open-meteo", "--duration", "5"],
        {"WEATHER_API_BASE": httpserver.url_for("/").rstrip("/"), "POLL_SECONDS": "1"},
    )
    assert result.returncode == 0, result.stderr
    anomalies, _ = headless_lines(result.stdout)
    assert [(a["station_id"], a["detector"], a["severity"]) for a in anomalies] == [
        ("nyc", "gust", "warning")
    ]
    assert "5 observations" in result.stderr  # the same reading polled again is not news
    assert len(httpserver.log) >= 3  # it kept polling
    assert "Traceback" not in result.stderr


def test_headless_open_meteo_with_the_server_down_reports_and_keeps_retrying(tmp_path):
    with socket.socket() as probe:  # a free port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = headless(
        tmp_path,
        ["--source", "open-meteo", "--duration", "4"],
        {"WEATHER_API_BASE": f"http://127.0.0.1:{port}", "POLL_SECONDS": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "source open-meteo: retrying in" in result.stderr
    assert "0 observations" in result.stderr
    log = (tmp_path / "d" / "logs" / "mass-tui.log").read_text()
    assert "open_meteo" in log or "http_client" in log


def test_openweathermap_without_a_key_is_a_one_line_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENWEATHER_API_KEY", "API_KEY")}
    result = subprocess.run(
        [
            *MASS_TUI,
            "headless",
            "--source",
            "openweathermap",
            "--duration",
            "1",
            "--data-dir",
            str(tmp_path / "d"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "OPENWEATHER_API_KEY" in result.stderr


def test_headless_replays_the_demo_stream_and_quarantines_bad_lines(tmp_path):
    import shutil
    import sqlite3

    from pipeline.sources.replay import demo_stream_path

    broken = tmp_path / "stream.jsonl"
    shutil.copy(demo_stream_path(), broken)
    with broken.open("a") as handle:
        handle.write('{"station_id": "lon", "observed_at": \n')
    (tmp_path / "fast.toml").write_text('[source.replay]\npace = "fast"\n')
    result = headless(
        tmp_path,
        [
            "--source",
            f"replay:{broken}",
            "--config",
            str(tmp_path / "fast.toml"),
            "--duration",
            "3",
        ],
        {},
    )
    assert result.returncode == 0, result.stderr
    assert "360 observations" in result.stderr and "1 messages" in result.stderr
    assert "replay finished (360 observations, 1 bad lines)" in result.stderr
    detectors = {a["detector"] for a in headless_lines(result.stdout)[0]}
    assert "pressure_fall" in detectors  # the demo stream's front at London
    with sqlite3.connect(tmp_path / "d" / "mass.sqlite3") as db:
        [(reason,)] = db.execute("select reason from quarantine").fetchall()
    assert reason.startswith("stream.jsonl line 361: malformed JSON")
