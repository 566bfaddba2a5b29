"""Alerts reaching people: a real SMTP server (aiosmtpd) and a real HTTP server on loopback.

A seeded simulator drives a deep front through London: its pressure-fall alert opens about
3.5 h in, as in the console tests. The dispatcher's pass (``deliver_due``, what its thread runs)
is called directly, with a fixed wall clock, so retries are deterministic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
from aiosmtpd.controller import Controller

from mass_tui.assemble import attach_notifications
from mass_tui.settings_layers import LoadedSettings, load_settings, pipeline_settings
from pipeline.alert_history import AlertHistory
from pipeline.alerts import AlertBook, AlertCommand
from pipeline.anomaly import Anomaly
from pipeline.bus import MemoryBus
from pipeline.clock import FixedClock
from pipeline.notify.channels import DeliveryError, EmailChannel
from pipeline.notify.dispatcher import Dispatcher
from pipeline.notify.notifier import NotifyRules
from pipeline.notify.outbox import Outbox
from pipeline.notify.service import Notifications
from pipeline.runtime import Pipeline
from pipeline.simulation.station_simulator import StationSimulator
from pipeline.store import Store
from tests.conftest import INTERVAL, QUIET, START
from tests.kafka_broker import free_port

WALL = 1_900_000_000.0


class Mailbox:
    """aiosmtpd handler keeping what it receives."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        return "250 OK"


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.mailbox = Mailbox()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=port)

    def __enter__(self) -> Mailbox:
        self.controller.start()
        return self.mailbox

    def __exit__(self, *exc_info) -> None:
        self.controller.stop()


@dataclass
class Station:
    pipeline: Pipeline
    notifications: Notifications
    wall: FixedClock
    loaded: LoadedSettings
    simulator: StationSimulator
    steps: int = 0

    def feed(self, steps: int, chunk: int = 10) -> None:
        names = self.loaded.variable_names
        for _ in range(0, steps, chunk):
            first = START + self.steps * INTERVAL
            block = self.simulator.generate(first, chunk, INTERVAL)
            self.pipeline.clock.set(first + (chunk - 1) * INTERVAL)
            stations = list(self.pipeline.registry.stations)
            self.pipeline.bus.publish(block.to_observations(stations, names))
            self.pipeline.process_pending()
            self.steps += chunk

    def deliver(self) -> int:
        return self.notifications.dispatcher.deliver_due()


NO_FAULTS = msgspec.structs.replace(QUIET, faults_per_day=0)


def alerting(
    tmp_path: Path,
    smtp_port: int,
    webhook: str = "",
    cooldown_min: float = 120,
    silence_min: float = 60,
) -> Station:
    cwd = tmp_path / "cwd"
    cwd.mkdir(parents=True, exist_ok=True)
    hook = f'[alerts.webhook]\nurl = "{webhook}"\n' if webhook else ""
    (cwd / "config.toml").write_text(
        f"[alerts]\ncooldown_min = {cooldown_min}\nsilence_min = {silence_min}\n"
        f'[alerts.email]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "plain"\n'
        f'to = ["ops@example.org"]\nsender = "mass@example.org"\n{hook}'
    )
    loaded = load_settings(
        config_path=cwd / "config.toml",
        environ={},
        user_config=tmp_path / "user.toml",
        flags={"data_dir": str(tmp_path / "data")},
    )
    stations = list(loaded.stations)
    # Without sensor faults: a wind-speed step lifts the wind above the gust, and that
    # station's inconsistent-readings advisory would be mail of its own.
    simulator = StationSimulator(stations, loaded.variables, NO_FAULTS)
    simulator.schedule_front("lon", START + 3 * 3600, depth_hpa=9.0, fall_hours=2.5)
    store = Store(loaded.database_path, loaded.variable_names, retention_s=7 * 86400)
    pipeline = Pipeline(
        pipeline_settings(loaded, stations),
        clock=FixedClock(START),
        source=None,
        bus=MemoryBus(100_000),
        store=store,
        wall=FixedClock(0.0),
    )
    wall = FixedClock(WALL)
    notifications = attach_notifications(loaded, pipeline, {}, wall)
    return Station(pipeline, notifications, wall, loaded, simulator)


def about_london_pressure(messages: list[bytes]) -> list[str]:
    return [m.decode() for m in messages if b"London (lon): pressure fell" in m]


def test_a_pressure_fall_sends_one_email_and_one_webhook_within_the_cooldown(tmp_path, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    port = free_port()
    station = alerting(tmp_path, port, webhook=httpserver.url_for("/hook"))
    with SmtpServer(port) as mailbox:
        station.feed(330)  # the advisory opens, escalates to a warning within the cooldown
        station.deliver()
        station.deliver()
    alerts = [a for a in station.pipeline.snapshot().alerts if a.station_id == "lon"]
    assert {a.severity for a in alerts} == {"warning"}  # escalated, and shown
    [mail] = about_london_pressure(mailbox.messages)
    assert "Subject: [M.A.S.S. ADVISORY] London (lon): pressure fell" in mail
    assert "threshold 3.5 hPa" in mail and "Recent readings:" in mail
    hooks = [json.loads(r.data) for r, _ in httpserver.log]
    [hook] = [h for h in hooks if h["alert"]["station_id"] == "lon"]
    assert hook["alert"]["rule"] == "pressure_fall" and hook["text"].startswith("[M.A.S.S.")
    assert len(hook["trend"]) == 6


def test_smtp_down_then_up_delivers_after_recovery_once(tmp_path):
    port = free_port()
    station = alerting(tmp_path, port)
    station.feed(330)
    assert station.deliver() == 0  # nobody listening
    problems = station.pipeline.snapshot().health
    assert any(w.name == "notify" and "smtp" in w.detail for w in problems)
    assert station.notifications.outbox.waiting() > 0
    with SmtpServer(port) as mailbox:
        station.deliver()  # not yet: the retry is due later
        assert mailbox.messages == []
        station.wall.advance(3600)
        station.deliver()
        station.wall.advance(3600)
        station.deliver()
    assert len(about_london_pressure(mailbox.messages)) == 1
    assert station.notifications.outbox.waiting() == 0
    assert not [w for w in station.pipeline.snapshot().health if w.name == "notify"]


def test_silenced_and_acknowledged_alerts_do_not_notify(tmp_path):
    port = free_port()
    station = alerting(tmp_path, port, cooldown_min=0, silence_min=8 * 60)
    station.pipeline.desk.silence("ops", station_id="lon")  # for 8 hours of observed time
    with SmtpServer(port) as mailbox:
        station.feed(330)
        station.deliver()
    assert about_london_pressure(mailbox.messages) == []
    lon = [a for a in station.pipeline.snapshot().alerts if a.station_id == "lon"]
    assert lon and all(a.silenced_by == "ops" for a in lon)

    port = free_port()
    station = alerting(tmp_path / "ack", port, cooldown_min=0)
    with SmtpServer(port) as mailbox:
        while not station.pipeline.snapshot().alerts:  # until the advisories open
            station.feed(10)
        station.deliver()
        for alert in station.pipeline.snapshot().alerts:
            station.pipeline.desk.acknowledge(alert.id, "ops")
        station.feed(330 - station.steps)  # escalation to warning: shown, not sent
        station.deliver()
    assert {a.severity for a in station.pipeline.snapshot().alerts} == {"warning"}
    assert len(about_london_pressure(mailbox.messages)) == 2  # one per pressure variable
    events = AlertHistory(station.loaded.database_path).events()
    assert ("acknowledged", "ops") in {(e[1], e[4]) for e in events}


def gust(t: float, station_id: str = "lon") -> Anomaly:
    return Anomaly(
        station_id=station_id,
        variable="wind_gust_ms",
        value=21.0,
        detector="gust",
        score=0.5,
        threshold=20.6,
        observed_at=t,
        statistic=21.0,
        quantity=21.0,
        severity="advisory",
    )


def test_hysteresis_keeps_one_alert_for_a_value_wavering_around_the_threshold():
    book = AlertBook(clear_after_s=600)
    key = ("lon", "gust", "wind_gust_ms")
    opened = book.observe([gust(0)])
    transitions = [a.last_transition for a in opened]
    for minute in range(1, 40):  # above, below, above... every minute for 40 minutes
        t = minute * 60.0
        holding = {key} if minute % 2 == 0 else set()
        transitions += [a.last_transition for a in book.observe([gust(t)] if holding else [])]
        transitions += [a.last_transition for a in book.settle(holding, t)]
    assert transitions == ["opened"]
    assert [a.state for a in book.alerts()] == ["active"]
    cleared = book.settle(set(), 39 * 60.0 + 600)
    assert [a.last_transition for a in cleared] == ["cleared"]


def test_a_restart_delivers_what_the_outbox_kept(tmp_path):
    port = free_port()
    station = alerting(tmp_path, port)
    station.feed(330)
    assert station.deliver() == 0
    station.pipeline.stop()  # the process ends with the notification undelivered

    outbox = Outbox(station.loaded.database_path)
    email = EmailChannel(station.loaded.settings.alerts.email)
    dispatcher = Dispatcher(outbox, [email], wall=FixedClock(WALL + 7200).now)
    with SmtpServer(port) as mailbox:
        dispatcher.deliver_due()
    outbox.close()
    assert len(about_london_pressure(mailbox.messages)) == 1


@pytest.fixture(autouse=True)
def _no_stray_environment(monkeypatch):
    for name in ("SMTP_HOST", "SMTP_PORT", "ALERT_EMAIL_TO", "ALERT_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)


def test_alerts_test_command_reports_each_notifier(tmp_path, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    (tmp_path / "config.toml").write_text('[alerts.email]\nsecurity = "plain"\n')
    port = free_port()
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "ALERT"))},
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "ALERT_EMAIL_TO": "ops@example.org",
        "ALERT_WEBHOOK_URL": httpserver.url_for("/hook"),
        "ALERT_WEBHOOK_TOKEN": "t0ken",
        "MASS_TUI_DATA_DIR": str(tmp_path / "data"),
        "MASS_TUI_CONFIG": str(tmp_path / "config.toml"),
    }
    command = [sys.executable, "-m", "mass_tui", "alerts", "test"]
    down = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True)
    assert down.returncode == 1
    assert "email: FAILED: smtp 127.0.0.1" in down.stdout and "webhook: delivered" in down.stdout
    with SmtpServer(port) as mailbox:
        up = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "email: delivered" in up.stdout
    assert b"Subject: [M.A.S.S. TEST]" in mailbox.messages[0]
    request, _ = httpserver.log[-1]
    assert request.headers["Authorization"] == "Bearer t0ken"
    assert json.loads(request.data)["test"] is True


def test_alerts_enabled_false_shows_alerts_but_sends_nothing(tmp_path):
    port = free_port()
    station = alerting(tmp_path, port)
    station.notifications.notifier.rules = NotifyRules(enabled=False, cooldown_s=0, ttl_s=60)
    with SmtpServer(port) as mailbox:
        station.feed(330)
        station.deliver()
    assert [a for a in station.pipeline.snapshot().alerts if a.station_id == "lon"]
    assert mailbox.messages == [] and station.notifications.outbox.waiting() == 0


def test_the_notifier_thread_delivers_while_the_pipeline_runs(tmp_path):
    port = free_port()
    station = alerting(tmp_path, port)
    with SmtpServer(port) as mailbox:
        station.pipeline.start()  # the consumer and notifier threads
        try:
            names = [v.name for v in station.loaded.variables]
            block = station.simulator.generate(START, 330, INTERVAL)
            station.pipeline.clock.set(START + 329 * INTERVAL)
            stations = list(station.pipeline.registry.stations)
            station.pipeline.bus.publish(block.to_observations(stations, names))
            deadline = time.monotonic() + 20
            while not about_london_pressure(mailbox.messages) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            station.pipeline.stop()
    assert len(about_london_pressure(mailbox.messages)) == 1


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_email_over_starttls_and_implicit_tls_with_login(tmp_path, security):
    import ssl

    import trustme
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from pipeline.notify.message import Notification
    from pipeline.settings import EmailSettings

    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"mass"
        return AuthResult(success=ok and auth_data.password == b"s3cret")

    mailbox = Mailbox()
    port = free_port()
    tls = (
        {"tls_context": server_context}
        if security == "starttls"
        else {"ssl_context": server_context}
    )
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        # aiosmtpd counts only STARTTLS as TLS for AUTH; with implicit TLS the whole session is.
        auth_require_tls=security == "starttls",
        **tls,
    )
    controller.start()
    try:
        settings = EmailSettings(
            host="127.0.0.1",
            port=port,
            security=security,
            user="mass",
            to=["ops@example.org"],
            ca_file=str(ca_file),
        )
        note = Notification("lon|gust|wind_gust_ms", "warning", "[M.A.S.S. WARNING] x", "b", {})
        EmailChannel(settings, "s3cret").send(note)
        with pytest.raises(DeliveryError, match="smtp"):
            EmailChannel(settings, "wrong").send(note)
    finally:
        controller.stop()
    assert len(mailbox.messages) == 1 and b"[M.A.S.S. WARNING] x" in mailbox.messages[0]


def test_a_notification_that_cannot_be_encoded_fails_alone(tmp_path, httpserver):
    """A webhook document with NaN (JSON has none) is retried later; the e-mail still goes."""
    from pipeline.notify.channels import WebhookChannel
    from pipeline.notify.message import Notification
    from pipeline.settings import EmailSettings, WebhookSettings

    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    bad = Notification("lon|gust|wind_gust_ms", "warning", "bad", "body", {"value": float("nan")})
    good = Notification("lon|gust|wind_gust_ms", "warning", "good", "body", {"value": 1.0})
    outbox.add(bad, ["webhook"], 0.0, WALL, 3600)
    outbox.add(good, ["email"], 0.0, WALL, 3600)
    port = free_port()
    email = EmailChannel(EmailSettings(host="127.0.0.1", port=port, security="plain", to=["a@b"]))
    hook = WebhookChannel(WebhookSettings(url=httpserver.url_for("/hook")))
    dispatcher = Dispatcher(outbox, [hook, email], wall=FixedClock(WALL).now)
    with SmtpServer(port) as mailbox:
        assert dispatcher.deliver_due() == 1
    assert len(mailbox.messages) == 1 and outbox.waiting() == 1
    assert "webhook" in dispatcher.problems()[0]
    outbox.close()


def test_a_restart_keeps_open_alerts_their_acknowledgement_and_station_silences(tmp_path):
    port = free_port()
    first = alerting(tmp_path, port)
    while not first.pipeline.snapshot().alerts:  # until the pressure advisories open
        first.feed(10)
    for alert in first.pipeline.snapshot().alerts:
        first.pipeline.desk.acknowledge(alert.id, "ops")
    quiet_station = next(s.station_id for s in first.loaded.stations if s.station_id != "lon")
    first.pipeline.desk.silence("night-shift", station_id=quiet_station)
    before = first.pipeline.snapshot().alerts
    first.pipeline.stop()
    first.notifications.stop()

    again = alerting(tmp_path, port)
    restored = again.pipeline.snapshot().alerts
    assert [(a.id, a.key, a.state, a.acknowledged_by) for a in restored] == [
        (a.id, a.key, "acknowledged", "ops") for a in before
    ]
    # The station silence holds for alerts that open after the restart, numbered after the
    # earlier run's.
    (opened,) = again.pipeline.analytics.alerts.observe([gust(START, quiet_station)])
    assert opened.silenced_by == "night-shift" and opened.id > max(a.id for a in before)
    # Fed quiet weather (the simulator starts over), the restored alerts clear after the
    # hysteresis, and the clearing is recorded.
    again.feed(30)
    assert {a.key: a.state for a in again.pipeline.snapshot().alerts if a.station_id == "lon"} == {
        a.key: "cleared" for a in before
    }
    transitions = {(e[0], e[1]) for e in AlertHistory(again.loaded.database_path).events()}
    assert {(a.id, "cleared") for a in before} <= transitions


def test_a_command_applies_only_to_the_alert_and_the_severity_it_names(tmp_path):
    """What a watching console sends a worker (``Pipeline.obey``): read again after a restart,
    an acknowledgement of the advisory does not acknowledge its escalation."""
    station = alerting(tmp_path, free_port())
    while not station.pipeline.snapshot().alerts:
        station.feed(10)
    alert = next(a for a in station.pipeline.snapshot().alerts if a.variable == "pressure_msl_hpa")
    station_id, rule, variable = alert.key
    assert alert.severity == "advisory"

    def acknowledgement(opened_at: float, severity: str) -> AlertCommand:
        return AlertCommand(
            "acknowledge", "alice", station_id, rule, variable, opened_at, severity=severity
        )

    def state() -> str:
        return next(a.state for a in station.pipeline.snapshot().alerts if a.key == alert.key)

    station.pipeline.desk.obey(
        acknowledgement(alert.opened_at - 60, "advisory")
    )  # an earlier alert
    station.pipeline.desk.obey(acknowledgement(alert.opened_at, "warning"))  # not what is shown
    assert state() == "active"
    station.pipeline.desk.obey(acknowledgement(alert.opened_at, "advisory"))
    assert state() == "acknowledged"
    station.feed(330 - station.steps)  # the front deepens: escalation to warning
    assert state() == "active"
    station.pipeline.desk.obey(acknowledgement(alert.opened_at, "advisory"))  # read again
    assert state() == "active"
