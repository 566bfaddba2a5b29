"""``mass-tui alerts test``: send a test notification through each configured channel now, and
say per channel whether it was delivered (exit status 1 if any was not)."""

from __future__ import annotations

import os
import socket
import sys
import time

from mass_tui.assemble import notification_channels
from mass_tui.settings_layers import LoadedSettings
from pipeline.notify.channels import DeliveryError
from pipeline.notify.message import Notification, iso


def test_notification(now: float) -> Notification:
    subject = f"[M.A.S.S. TEST] notification test from {socket.gethostname()}"
    body = (
        f"This is a test sent at {iso(now)} by `mass-tui alerts test`.\n"
        "If you read it, alerts will reach you this way.\n"
    )
    return Notification(
        alert_key="test|test|test",
        severity="test",
        subject=subject,
        body=body,
        document={"text": subject, "test": True, "sent_at": iso(now)},
    )


def run_notify_check(loaded: LoadedSettings) -> int:
    channels = notification_channels(loaded, os.environ)
    if not channels:
        print(
            "mass-tui alerts test: no notifier configured: set [alerts.email] host and to "
            "(or SMTP_HOST and ALERT_EMAIL_TO), or [alerts.webhook] url (ALERT_WEBHOOK_URL)",
            file=sys.stderr,
        )
        return 2
    if not loaded.settings.alerts.enabled:
        print("note: ALERTS_ENABLED is false: alerts will show but not be sent", file=sys.stderr)
    notification = test_notification(time.time())
    failed = 0
    for channel in channels:
        try:
            note = channel.send(notification)
        except Exception as exc:  # whatever it is, it is this channel's outcome
            shown = exc if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
            failed += 1
            print(f"{channel.name}: FAILED: {shown}")
            continue
        print(f"{channel.name}: delivered" + (f", unconfirmed: {note}" if note else ""))
    return 1 if failed else 0
