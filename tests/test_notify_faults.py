"""Notifications and logs when the world misbehaves: a relay that answers late, webhooks that
refuse or ask to wait, names carrying control characters, secrets near log lines, a full disk.

Real parts only: aiosmtpd on loopback, pytest-httpserver, SQLite outboxes in ``tmp_path``. The
dispatcher's passes run on a fixed wall clock; where its threads run, the tests wait on events
set by the servers, never on sleeps.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import logging
import os
import sqlite3
import stat
import threading
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from werkzeug import Request, Response

from mass_tui.logs import CHATTY_LIBRARIES, PrivateLogFile, setup_logging
from mass_tui.settings_layers import LoggingSettings
from pipeline.alerts import Alert
from pipeline.clock import FixedClock
from pipeline.notify.channels import DeliveryError, EmailChannel, WebhookChannel
from pipeline.notify.dispatcher import Dispatcher
from pipeline.notify.message import Notification, compose
from pipeline.notify.outbox import Outbox
from pipeline.settings import EmailSettings, WebhookSettings
from pipeline.sources.openweathermap import OpenWeatherMapSource
from pipeline.stations import Station
from tests.kafka_broker import free_port
from tests.test_notifications import WALL, SmtpServer

HELD_S = 30.0
"""The longest a test relay holds a reply; the test releases it well before."""


def alert(alert_id: int = 1, station_id: str = "lon", opened_at: float = 1000.0) -> Alert:
    return Alert(
        id=alert_id,
        station_id=station_id,
        rule="gust",
        variable="wind_gust_ms",
        severity="warning",
        state="active",
        opened_at=opened_at,
        updated_at=opened_at,
        value=25.0,
        quantity=25.0,
        threshold=20.6,
    )


def note(alert_id: int = 1, station_name: str = "London") -> Notification:
    return compose(alert(alert_id, opened_at=1000.0 + alert_id), station_name, "m/s", [])


def email_settings(
    port: int, timeout_s: float = 15.0, to: str = "ops@example.org"
) -> EmailSettings:
    return EmailSettings(
        host="127.0.0.1",
        port=port,
        security="plain",
        sender="mass@example.org",
        to=[to],
        timeout_s=timeout_s,
    )


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT channel, attempts, delivered_at, expired_at, last_error FROM outbox ORDER BY id"
        ).fetchall()


class LateRelay:
    """Takes the whole message, then holds its reply to DATA until released (or the first
    ``answer_after`` messages get theirs at once)."""

    def __init__(self, answer_after: int = 0) -> None:
        self.messages: list[bytes] = []
        self.rcpt_tos: list[list[str]] = []
        self.holding = threading.Event()
        self.release = threading.Event()
        self._answer_after = answer_after

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        self.rcpt_tos.append(list(envelope.rcpt_tos))
        if len(self.messages) > self._answer_after:
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, HELD_S)
        return "250 OK"


@pytest.fixture
def late_relay():
    relay = LateRelay()
    port = free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    yield relay, port
    relay.release.set()
    controller.stop()


def test_a_relay_that_answers_data_after_the_timeout_gets_each_alert_once(tmp_path, late_relay):
    relay, port = late_relay
    wall = FixedClock(WALL)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    for alert_id in (1, 2, 3):
        outbox.add(note(alert_id), ["email"], 0.0, wall.now(), 24 * 3600)
    email_channel = EmailChannel(email_settings(port, timeout_s=0.5))
    dispatcher = Dispatcher(outbox, [email_channel], wall=wall.now)
    for _ in range(4):  # every retry would have come due by the next pass
        dispatcher.deliver_due()
        wall.advance(3600)

    assert len(relay.messages) == 3
    ids = [parsed(m)["Message-ID"] for m in relay.messages]
    assert len(set(ids)) == 3 and all(i.endswith("@example.org>") for i in ids)
    assert outbox.waiting() == 0
    for _, attempts, delivered_at, _, error in rows(tmp_path / "outbox.sqlite3"):
        assert attempts == 1 and delivered_at == WALL
        assert error.startswith("smtp 127.0.0.1:") and "sent, but no answer came" in error
    health = dispatcher.health["email"]
    assert (health.delivered, health.unconfirmed, health.failures) == (3, 3, 0)
    assert "unconfirmed" in dispatcher.problems()[0]
    outbox.close()


class RefusingOnce:
    """Answers the first DATA with a temporary refusal (RFC 5321 4yz), then accepts."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        return "451 4.3.0 try again later" if len(self.messages) == 1 else "250 OK"


def test_a_retried_email_keeps_its_message_id(tmp_path):
    relay = RefusingOnce()
    port = free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    wall = FixedClock(WALL)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.add(note(), ["email"], 0.0, wall.now(), 3600)
    dispatcher = Dispatcher(outbox, [EmailChannel(email_settings(port))], wall=wall.now)
    controller.start()
    try:
        assert dispatcher.deliver_due() == 0
        wall.advance(60)
        assert dispatcher.deliver_due() == 1
    finally:
        controller.stop()
    first, second = (parsed(m)["Message-ID"] for m in relay.messages)
    assert first == second and note().event_id in first
    assert rows(tmp_path / "outbox.sqlite3")[0][1:3] == (2, WALL + 60)
    assert dispatcher.problems() == []
    outbox.close()


def test_a_slow_relay_does_not_hold_up_the_webhook(tmp_path, late_relay, httpserver):
    relay, port = late_relay
    posted = threading.Event()

    def hook(request: Request) -> Response:
        posted.set()
        return Response("ok")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(hook)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    email_channel = EmailChannel(email_settings(port, timeout_s=2 * HELD_S))
    webhook = WebhookChannel(WebhookSettings(url=httpserver.url_for("/hook")))
    dispatcher = Dispatcher(outbox, [email_channel, webhook], wall=FixedClock(WALL).now)
    outbox.add(note(1), ["email"], 0.0, WALL, 3600)
    dispatcher.start()
    try:
        assert relay.holding.wait(HELD_S)  # the e-mail is in DATA, its reply held
        outbox.add(note(2), ["webhook"], 0.0, WALL, 3600)
        dispatcher.wake()
        assert posted.wait(HELD_S / 2)
    finally:
        relay.release.set()
        assert dispatcher.stop()
    assert outbox.waiting() == 0 and dispatcher.problems() == []
    outbox.close()


def hook_dispatcher(tmp_path: Path, url: str, wall: FixedClock) -> tuple[Outbox, Dispatcher]:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.add(note(), ["webhook"], 0.0, wall.now(), 24 * 3600)
    channel = WebhookChannel(WebhookSettings(url=url))
    return outbox, Dispatcher(outbox, [channel], wall=wall.now)


def test_a_webhook_answering_400_is_given_up_at_once(tmp_path, httpserver):
    httpserver.expect_request("/hook").respond_with_data("no such channel", status=400)
    wall = FixedClock(WALL)
    outbox, dispatcher = hook_dispatcher(tmp_path, httpserver.url_for("/hook"), wall)
    for _ in range(3):
        assert dispatcher.deliver_due() == 0
        wall.advance(3600)
    assert len(httpserver.log) == 1
    assert outbox.waiting() == 0
    [(_, attempts, delivered_at, expired_at, error)] = rows(tmp_path / "outbox.sqlite3")
    assert (attempts, delivered_at, expired_at) == (1, None, WALL)
    assert error == "127.0.0.1: HTTP 400: no such channel"
    assert dispatcher.health["webhook"].refused == 1
    assert dispatcher.problems() == [
        "webhook: refused, not retried: 127.0.0.1: HTTP 400: no such channel"
    ]
    outbox.close()


@pytest.mark.parametrize(
    "retry_after",
    ["120", format_datetime(datetime.fromtimestamp(WALL + 120, UTC), usegmt=True)],
    ids=["seconds", "http-date"],
)
def test_a_webhook_answering_429_is_retried_when_retry_after_says(
    tmp_path, httpserver, retry_after
):
    httpserver.expect_oneshot_request("/hook").respond_with_data(
        "slow down", status=429, headers={"Retry-After": retry_after}
    )
    httpserver.expect_request("/hook").respond_with_data("ok")
    wall = FixedClock(WALL)
    outbox, dispatcher = hook_dispatcher(tmp_path, httpserver.url_for("/hook"), wall)
    assert dispatcher.deliver_due() == 0
    wall.advance(119)
    assert dispatcher.deliver_due() == 0 and len(httpserver.log) == 1
    wall.advance(1)
    assert dispatcher.deliver_due() == 1
    keys = [request.headers["Idempotency-Key"] for request, _ in httpserver.log]
    events = [json.loads(request.data)["event_id"] for request, _ in httpserver.log]
    assert keys[0] == keys[1] and note().event_id in keys[0]
    assert events == [note().event_id] * 2
    outbox.close()


def test_a_webhook_answering_500_is_retried_with_the_same_idempotency_key(tmp_path, httpserver):
    httpserver.expect_oneshot_request("/hook").respond_with_data("oops", status=500)
    httpserver.expect_request("/hook").respond_with_data("ok")
    wall = FixedClock(WALL)
    outbox, dispatcher = hook_dispatcher(tmp_path, httpserver.url_for("/hook"), wall)
    assert dispatcher.deliver_due() == 0
    assert "HTTP 500" in dispatcher.problems()[0]
    wall.advance(7)  # the first backoff: 5 s, give or take 20 %
    assert dispatcher.deliver_due() == 1
    first, second = (request.headers["Idempotency-Key"] for request, _ in httpserver.log)
    assert first == second
    assert outbox.waiting() == 0 and dispatcher.problems() == []
    outbox.close()


HOSTILE_NAME = "Evil\r\nBcc: evil@x\x1b]52;c;ZXZpbA==\x07 \x85town"


def is_clean(text: str) -> bool:
    return not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


def test_a_station_name_with_cr_lf_and_escapes_gives_one_email_with_one_clean_subject(
    tmp_path,
):
    port = free_port()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.add(note(station_name=HOSTILE_NAME), ["email"], 0.0, WALL, 3600)
    dispatcher = Dispatcher(outbox, [EmailChannel(email_settings(port))], wall=FixedClock(WALL).now)
    with SmtpServer(port) as mailbox:
        assert dispatcher.deliver_due() == 1
    [raw] = mailbox.messages
    message = parsed(raw)
    subject = message["Subject"]
    assert message["Bcc"] is None and b"\nBcc:" not in raw
    assert "\n" not in subject and is_clean(subject)
    assert "Evil\\x0d\\x0aBcc: evil@x\\x1b]52;c;ZXZpbA==\\x07 \\x85town" in subject
    assert is_clean(message.get_content().replace("\r\n", ""))
    outbox.close()


def test_a_raw_subject_queued_before_the_rule_is_escaped_at_the_smtp_boundary(tmp_path):
    """An outbox row written by an earlier version (its subject not escaped) used to make
    EmailMessage raise ValueError at every retry until it expired."""
    port = free_port()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    raw = Notification("lon|gust|x", "warning", f"[M.A.S.S.] {HOSTILE_NAME}", "a\x1bb\n", {})
    outbox.add(raw, ["email"], 0.0, WALL, 3600)
    dispatcher = Dispatcher(outbox, [EmailChannel(email_settings(port))], wall=FixedClock(WALL).now)
    with SmtpServer(port) as mailbox:
        assert dispatcher.deliver_due() == 1
    [message] = [parsed(m) for m in mailbox.messages]
    assert message["Bcc"] is None and is_clean(message["Subject"])
    assert message.get_content() == "a\\x1bb\r\n"
    outbox.close()


def test_any_failure_inside_a_send_is_a_one_line_delivery_error():
    settings = email_settings(free_port(), to="ops@example.org\r\nBcc: evil@x")
    with pytest.raises(DeliveryError) as failure:  # no relay needed: it fails before connecting
        EmailChannel(settings).send(note())
    assert str(failure.value).startswith("smtp 127.0.0.1:") and is_clean(str(failure.value))


@pytest.fixture
def own_logging():
    """setup_logging replaces the root logger's handlers (pytest's among them) and sets library
    levels: put everything back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    libraries = {name: logging.getLogger(name).level for name in CHATTY_LIBRARIES}
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name, library_level in libraries.items():
        logging.getLogger(name).setLevel(library_level)


API_KEY = "SECRETKEY0123456789abcdef"
HOOK_PATH = "/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"


def test_no_log_line_holds_the_webhook_path_or_the_api_key(tmp_path, httpserver, own_logging):
    httpserver.expect_request(HOOK_PATH, method="POST").respond_with_data("ok")
    moved = f"/v2/{API_KEY}/weather?appid={API_KEY}&units=metric"
    httpserver.expect_request("/data/2.5/weather").respond_with_data(
        "", status=302, headers={"Location": moved}
    )
    httpserver.expect_request(f"/v2/{API_KEY}/weather").respond_with_data("{}", status=503)
    hook_url = httpserver.url_for(HOOK_PATH)
    path = setup_logging(
        tmp_path,
        LoggingSettings(level="DEBUG"),
        "mass-tui",
        secrets=[API_KEY],
        secret_urls=[hook_url],
    )
    assert {logging.getLogger(n).level for n in CHATTY_LIBRARIES} == {logging.WARNING}
    for name in CHATTY_LIBRARIES:  # opened up again: the filter alone must hold
        logging.getLogger(name).setLevel(logging.DEBUG)

    WebhookChannel(WebhookSettings(url=hook_url)).send(note())
    wall = FixedClock(WALL)
    source = OpenWeatherMapSource(
        [Station("lon", "London", 51.5, -0.12, 11.0)],
        api_key=API_KEY,
        api_base=httpserver.url_for("/"),
        clock=wall,
        wall=wall,
    )
    assert source.poll() == []  # redirected, then 503
    source.close()
    try:
        raise ValueError(f"cannot post to {hook_url}")
    except ValueError:
        logging.getLogger("tests").exception("with a traceback")
    for handler in logging.getLogger().handlers:
        handler.flush()

    text = path.read_text()
    assert "HTTP Request: POST" in text and "receive_response_headers" in text
    assert "Location" in text and "Traceback" in text  # the lines that used to leak
    assert API_KEY not in text
    assert HOOK_PATH.strip("/") not in text and "XXXXXXXX" not in text
    assert f"{httpserver.url_for('/')}*** " in text  # the host still shows
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_log_files_and_their_rotations_are_private_whatever_the_umask(tmp_path, own_logging):
    old = tmp_path / "logs" / "mass-tui.log.3"  # rotated by an earlier version
    old.parent.mkdir()
    old.write_text("old\n")
    old.chmod(0o644)
    umask = os.umask(0)
    try:
        path = setup_logging(tmp_path, LoggingSettings(max_bytes=400, backups=3), "mass-tui")
        for i in range(40):
            logging.getLogger("tests").warning("line %d of a log that rotates", i)
    finally:
        os.umask(umask)
    files = sorted(path.parent.iterdir())
    assert [f.name for f in files] == [f"mass-tui.log{s}" for s in ("", ".1", ".2", ".3")]
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_full_disk_costs_one_line_on_stderr_however_many_records(capsys):
    handler = PrivateLogFile("/dev/full", max_bytes=1_000_000, backups=1)
    logger = logging.getLogger("tests.full_disk")
    logger.propagate = False
    logger.addHandler(handler)
    descriptors = len(os.listdir("/proc/self/fd"))
    try:
        for i in range(200):
            logger.warning("record %d", i)
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert capsys.readouterr().err == (
        "mass-tui: logging to /dev/full failed: No space left on device"
        " (further log errors are counted)\n"
    )
    assert handler.lost == 200
    # Each failed stream was closed: 200 leaked ones would show; other threads of the test
    # process (a broker client, a server) may open a few descriptors meanwhile.
    assert len(os.listdir("/proc/self/fd")) <= descriptors + 10
    assert stat.S_IMODE(os.stat("/dev/full").st_mode) != 0o600  # a device is left alone


def test_setup_logging_on_a_full_disk_says_so_once(tmp_path, own_logging, capsys):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "mass-tui.log").symlink_to("/dev/full")
    setup_logging(tmp_path, LoggingSettings(), "mass-tui")
    for i in range(50):
        logging.getLogger("tests").warning("record %d", i)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err and "Traceback" not in err
