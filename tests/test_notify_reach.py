"""Notifications that reach phones: an Apprise channel (against a real HTTP server on
loopback, Apprise's ``json://`` service), "resolved" notifications when a told alert clears,
and reminders of unacknowledged warnings."""

from __future__ import annotations

from dataclasses import replace

import pytest
from werkzeug import Response

from mass_tui.assemble import notification_channels
from mass_tui.settings_layers import ConfigError, load_settings
from pipeline.notify.apprise_channel import AppriseChannel
from pipeline.notify.channels import DeliveryError
from pipeline.notify.message import compose
from pipeline.notify.notifier import AlertNotifier, NotifyRules
from pipeline.notify.outbox import Outbox
from tests.conftest import START, gust_alert

WALL = 1_900_000_000.0


def warning(**fields):
    return gust_alert(severity="warning", value=33.0, quantity=33.0, threshold=32.7, **fields)


class Observed:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def notifier(tmp_path, clock: Observed, **rules) -> tuple[AlertNotifier, Outbox]:
    outbox = Outbox(tmp_path / "mass.sqlite3")
    rules = NotifyRules(True, cooldown_s=1800, ttl_s=3600, **rules)
    return (
        AlertNotifier(
            rules,
            outbox,
            ["webhook"],
            clock=clock,
            wall=lambda: WALL,
            station_name=lambda station_id: "London",
            unit=lambda variable: "m/s",
            trend=lambda station_id, variable: [],
        ),
        outbox,
    )


def queued(outbox: Outbox) -> list:
    return [p.notification for p in outbox.due(WALL + 1, "webhook", limit=100)]


def test_apprise_delivers_to_a_json_service(httpserver):
    httpserver.expect_request("/hooks/mass", method="POST").respond_with_data("ok")
    channel = AppriseChannel([f"json://127.0.0.1:{httpserver.port}/hooks/mass"])
    alert = warning()
    assert channel.send(compose(alert, "London", "m/s", [])) is None
    ((request, _),) = httpserver.log
    body = request.get_json()
    assert body["title"].startswith("[M.A.S.S. WARNING] London (lon): gust 33.0 m/s")
    assert "Acknowledge or silence it" in body["message"]


def test_an_apprise_failure_is_one_line_without_the_url(httpserver):
    httpserver.expect_request("/hooks/secret-token").respond_with_response(Response("no", 500))
    channel = AppriseChannel([f"json://127.0.0.1:{httpserver.port}/hooks/secret-token"])
    with pytest.raises(DeliveryError) as failed:
        channel.send(compose(warning(), "London", "m/s", []))
    reason = str(failed.value)
    assert reason.startswith("json: ") and "\n" not in reason
    assert "secret-token" not in reason and "://" not in reason


def test_an_apprise_url_it_cannot_use_refuses_to_start_without_showing_it(tmp_path):
    loaded = load_settings(
        environ={"ALERT_APPRISE_URLS": "json://127.0.0.1:9/ok, nosuch://token-123@x"},
        user_config=tmp_path / "user.toml",
    )
    assert loaded.settings.alerts.apprise.urls == ["json://127.0.0.1:9/ok", "nosuch://token-123@x"]
    with pytest.raises(ConfigError, match="URL 2 \\(nosuch://…\\)") as refused:
        notification_channels(loaded, {})
    assert "token-123" not in str(refused.value)


def test_a_told_alert_that_clears_is_told_resolved_once(tmp_path):
    clock = Observed()
    told, outbox = notifier(tmp_path, clock, resolved=True)
    alert = warning()
    told(alert)
    clock.now += 1200
    told(replace(alert, state="cleared", cleared_at=clock.now, last_transition="cleared"))
    opened, resolved = queued(outbox)
    assert opened.subject.startswith("[M.A.S.S. WARNING]")
    assert resolved.subject.startswith("[M.A.S.S. RESOLVED warning] London (lon): gust")
    assert "Resolved: it cleared at 2026-01-01T00:20:00Z." in resolved.body
    assert resolved.document["occasion"] == "resolved"
    assert resolved.document["event_id"] != opened.document["event_id"]
    # The resolved message is no telling for the cooldown, after a restart too: a new alert
    # past the cooldown of the opening (if within that of the resolved message) is told.
    outbox.close()
    restarted, outbox = notifier(tmp_path, clock, resolved=True)
    clock.now = START + 1801
    restarted(warning(id=2, opened_at=clock.now, updated_at=clock.now))
    assert len(queued(outbox)) == 3
    outbox.close()


def test_an_alert_never_told_clears_without_a_resolved_message(tmp_path):
    clock = Observed()
    told, outbox = notifier(tmp_path, clock, resolved=True)
    alert = warning(acknowledged_by="ann", state="acknowledged")  # someone is on it: not told
    told(alert)
    told(replace(alert, state="cleared", last_transition="cleared"))
    assert queued(outbox) == []
    outbox.close()


def test_resolved_can_be_turned_off(tmp_path):
    clock = Observed()
    told, outbox = notifier(tmp_path, clock, resolved=False)
    alert = warning()
    told(alert)
    told(replace(alert, state="cleared", last_transition="cleared"))
    assert len(queued(outbox)) == 1
    outbox.close()


def test_an_unacknowledged_warning_is_reminded_every_remind_s(tmp_path):
    clock = Observed()
    told, outbox = notifier(tmp_path, clock, remind_s=600)
    alert = warning()
    advisory = gust_alert(id=2, station_id="nyc")
    told(alert)
    told(advisory)
    clock.now += 599
    assert told.remind([alert, advisory]) == 0
    clock.now += 1
    assert told.remind([alert, advisory]) == 1  # warnings only
    assert told.remind([alert, advisory]) == 0  # not again until another remind_s
    reminder = queued(outbox)[-1]
    assert reminder.subject.startswith("[M.A.S.S. WARNING, REMINDER]")
    assert "still active and not acknowledged after 10 min" in reminder.body
    clock.now += 600
    assert told.remind([replace(alert, state="acknowledged", acknowledged_by="ann")]) == 0
    assert told.remind([replace(alert, silenced_until=clock.now + 60)]) == 0
    ids = {p.document["event_id"] for p in queued(outbox)}
    assert len(ids) == len(queued(outbox))  # each reminder its own event id
    # A restart remembers when it last told: no reminder at once.
    outbox.close()
    again, outbox = notifier(tmp_path, clock)
    again.rules = replace(again.rules, remind_s=600)
    clock.now -= 300
    assert again.remind([alert]) == 0
    clock.now += 300
    assert again.remind([alert]) == 1
    outbox.close()


def test_reminders_are_off_by_default(tmp_path):
    clock = Observed()
    told, outbox = notifier(tmp_path, clock)
    alert = warning()
    told(alert)
    clock.now += 86_400
    assert told.remind([alert]) == 0
    outbox.close()
