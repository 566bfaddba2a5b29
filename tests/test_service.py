"""``mass-tui service`` as its users run it: a subprocess on a data directory, called over
HTTP, stopped with signals."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mass_tui.service_file import running_service

MASS_TUI = [sys.executable, "-m", "mass_tui"]


def fast_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "fast.toml"
    config.write_text(
        "[simulator]\nrate_per_station = 20.0\ntime_scale = 1200.0\n"
        "start = '2026-01-01T00:00:00Z'\n" + extra
    )
    return config


class Service:
    def __init__(self, tmp_path: Path, *args: str, config: Path | None = None) -> None:
        self.data = tmp_path / "data"
        config = config or fast_config(tmp_path)
        self.proc = subprocess.Popen(
            [
                *MASS_TUI,
                "service",
                *("--config", str(config), "--data-dir", str(self.data)),
                *("--http", "127.0.0.1:0", *args),
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "MASS_TUI_API_TOKEN": ""},
        )
        deadline = time.monotonic() + 30
        while (info := running_service(self.data)) is None:
            assert self.proc.poll() is None, self.proc.communicate()[1]
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.1)
        self.info = info
        self.client = httpx.Client(base_url=info.url, timeout=10)

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err


@pytest.fixture
def service(tmp_path):
    running = Service(tmp_path)
    yield running
    if running.proc.poll() is None:
        running.proc.kill()
        running.proc.communicate()


def wait_for(condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return result


def test_sigterm_stops_it_with_everything_stored_and_exit_0(service):
    assert service.info.pid == service.proc.pid
    wait_for(lambda: service.client.get("/healthz").json()["status"] == "ok")
    wait_for(lambda: all(s["latest_at"] for s in service.client.get("/api/v1/stations").json()))
    code, err = service.stop()
    assert code == 0, err
    assert "Traceback" not in err
    summary = err.strip().splitlines()[-1]
    stored = int(re.search(r"([\d,]+) observations stored", summary)[1].replace(",", ""))
    accepted = int(re.search(r"([\d,]+) analysed", summary)[1].replace(",", ""))
    assert accepted > 0 and stored == accepted and " 0 lost" in summary
    with sqlite3.connect(service.data / "mass.sqlite3") as db:
        assert db.execute("select count(*) from observations").fetchone() == (accepted,)
    assert running_service(service.data) is None
    assert not (service.data / "service.json").exists()


def test_a_second_service_on_the_data_directory_exits_2_naming_the_first(service, tmp_path):
    second = subprocess.run(
        [*MASS_TUI, "service", "--data-dir", str(service.data), "--http", "127.0.0.1:0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 2
    assert f"process {service.proc.pid}" in second.stderr
    assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
    assert service.client.get("/healthz").status_code == 200  # the first runs on


def test_a_headless_run_on_its_data_directory_is_refused(service, tmp_path):
    result = subprocess.run(
        [*MASS_TUI, "headless", "--data-dir", str(service.data), "--duration", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and f"process {service.proc.pid}" in result.stderr


def test_sighup_reloads_thresholds_from_the_config(tmp_path):
    config = fast_config(tmp_path, "[detectors.zscore.thresholds]\ntemperature_c = 5.0\n")
    running = Service(tmp_path, config=config)
    try:

        def zscore() -> float:
            listed = running.client.get("/api/v1/thresholds").json()
            return next(
                t["value"]
                for t in listed
                if (t["detector"], t["variable"]) == ("zscore", "temperature_c")
            )

        assert zscore() == 5.0
        config.write_text(config.read_text().replace("5.0", "7.5"))
        running.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: zscore() == 7.5)
        config.write_text("[detectors.zscore]\nwindow = -1\n")  # a broken edit is refused
        running.proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert zscore() == 7.5 and running.proc.poll() is None
    finally:
        code, err = running.stop()
    assert code == 0, err
    assert "thresholds reloaded: detectors.zscore.thresholds.temperature_c = 7.5" in err
    assert "settings not reloaded" in err and "detectors.zscore.window" in err


def test_beyond_loopback_it_refuses_to_start_without_a_token(tmp_path):
    result = subprocess.run(
        [*MASS_TUI, "service", "--data-dir", str(tmp_path / "d"), "--http", "0.0.0.0:0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MASS_TUI_API_TOKEN": ""},
    )
    assert result.returncode == 2
    assert "MASS_TUI_API_TOKEN" in result.stderr and "Traceback" not in result.stderr


async def test_a_console_attaches_and_its_acknowledgement_reaches_the_service(tmp_path):
    """The demo front opens alerts at the service; a pilot console attached to it shows them,
    says it is attached, and `a` acknowledges the top one at the service (recorded there)."""
    from mass_tui.app import MassApp
    from mass_tui.attached import ServiceReader, attach
    from mass_tui.settings_layers import load_settings, pipeline_settings
    from widgets.status_bar import StatusBar

    running = Service(tmp_path, "--demo")
    try:
        open_alert = wait_for(
            lambda: next(
                (a for a in running.client.get("/api/v1/alerts").json() if a["state"] == "active"),
                None,
            ),
            timeout=60,
        )
        loaded = load_settings(
            environ={},
            user_config=tmp_path / "user.toml",
            flags={"data_dir": str(running.data)},
        )
        attached = attach(running.info.url, running.info.token, pipeline_settings(loaded, []))
        user = "josé"  # not ASCII: HTTP headers are
        app = MassApp(loaded, attached, reader=ServiceReader(attached.client), user=user)
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(100):
                await pilot.pause(0.1)
                if app.main._alerts:
                    break
            status = str(app.main.query_one(StatusBar).render())
            assert f"attached · service pid {running.proc.pid}" in status
            top = app.main._alerts[0]
            await pilot.press("a")
            acknowledged = wait_for(
                lambda: next(
                    (
                        a
                        for a in running.client.get(
                            "/api/v1/alerts", params={"state": "all"}
                        ).json()
                        if a["id"] == top.id and a["acknowledged_by"]
                    ),
                    None,
                )
            )
            assert acknowledged["acknowledged_by"] == user
            for _ in range(50):  # the console follows the service's state
                await pilot.pause(0.1)
                shown = next(a for a in app.main._alerts if a.id == top.id)
                if shown.acknowledged_by == user:
                    break
            assert shown.acknowledged_by == user
            # The demo front goes on (fast): by the console's next poll the acknowledged
            # advisory may have escalated, which makes it active again (an escalation needs
            # its own acknowledgement), or cleared; either keeps who acknowledged it.
            assert shown.state == "acknowledged" or shown.last_transition in (
                "escalated",
                "cleared",
            )
        assert open_alert["id"]
    finally:
        code, err = running.stop()
    assert code == 0, err
    with sqlite3.connect(running.data / "mass.sqlite3") as db:
        recorded = db.execute(
            "SELECT transition, by_user FROM alert_events WHERE alert_id = ?"
            " AND transition = 'acknowledged'",
            (top.id,),
        ).fetchall()
    assert recorded == [("acknowledged", "josé")]


def test_two_pipelines_on_one_data_directory_even_without_storage_are_refused(tmp_path):
    """With storage off there is no store to lock, but both would notify people."""
    config = fast_config(tmp_path, "[storage]\nenabled = false\n")
    data = tmp_path / "data"
    first = subprocess.Popen(
        [*MASS_TUI, "headless", "--config", str(config), "--data-dir", str(data)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: (data / "service.lock").exists() and (data / "service.lock").stat().st_size
        )
        second = subprocess.run(
            [
                *MASS_TUI,
                "headless",
                "--config",
                str(config),
                "--data-dir",
                str(data),
                "--duration",
                "1",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert f"process {first.pid}" in second.stderr and "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=30)
    assert first.returncode == 0, err


def test_an_attached_console_says_when_the_service_is_gone_and_follows_its_restart(tmp_path):
    from mass_tui.attached import attach
    from mass_tui.settings_layers import load_settings, pipeline_settings

    first = Service(tmp_path)
    loaded = load_settings(
        environ={},
        user_config=tmp_path / "u.toml",
        flags={"data_dir": str(first.data)},
    )

    def locate():
        found = running_service(first.data)
        return (found.url, found.token) if found is not None else None

    attached = attach(first.info.url, first.info.token, pipeline_settings(loaded, []), locate)
    attached.poll_s = 0.2
    attached.start()
    second = None
    try:
        wait_for(lambda: attached.snapshot().counters.accepted > 0)
        seen = attached.snapshot().counters.accepted
        code, err = first.stop()
        assert code == 0, err
        problems = wait_for(attached.problems)
        assert "cannot reach the service" in problems[0]
        assert attached.snapshot().counters.accepted >= seen  # the last data stays
        second = Service(tmp_path, "--demo")  # another port, another local token
        assert (second.info.url, second.info.token) != (first.info.url, first.info.token)
        wait_for(lambda: not attached.problems() and attached.service_pid == second.proc.pid)
        alert = wait_for(
            lambda: next((a for a in attached.snapshot().alerts if a.state == "active"), None),
            timeout=60,
        )
        assert attached.desk.acknowledge(alert.id, "tester") is not None
        wait_for(
            lambda: any(
                a["id"] == alert.id and a["acknowledged_by"] == "tester"
                for a in second.client.get("/api/v1/alerts", params={"state": "all"}).json()
            )
        )
    finally:
        attached.stop()
        if second is not None:
            code, err = second.stop()
            assert code == 0, err


def test_under_systemd_it_says_ready_and_stopping_and_logs_to_stderr(tmp_path):
    """``Type=notify``: sd_notify datagrams on $NOTIFY_SOCKET (a real socket here, as
    systemd's); ``--log-stderr`` for journald."""
    import socket as sockets

    address = tmp_path / "notify.sock"
    listener = sockets.socket(sockets.AF_UNIX, sockets.SOCK_DGRAM)
    listener.bind(str(address))
    listener.settimeout(30)
    try:
        proc = subprocess.Popen(
            [
                *(*MASS_TUI, "service", "--config", str(fast_config(tmp_path))),
                *("--data-dir", str(tmp_path / "d"), "--http", "127.0.0.1:0", "--log-stderr"),
            ],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NOTIFY_SOCKET": str(address)},
        )
        assert listener.recv(100) == b"READY=1"
        proc.send_signal(signal.SIGTERM)
        assert listener.recv(100) == b"STOPPING=1"
        _, err = proc.communicate(timeout=30)
    finally:
        listener.close()
    assert proc.returncode == 0, err
    assert "INFO mass_tui.http.serve: serving HTTP on http://127.0.0.1:" in err
    assert "INFO mass_tui.service: stopping on SIGTERM" in err
