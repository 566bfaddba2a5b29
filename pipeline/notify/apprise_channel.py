"""Notifications through Apprise: one URL per service (``tgram://``, ``slack://``, ``msteams://``,
``ntfy://``, ``matrix://``, SMS gateways such as ``twilio://`` or ``sns://``, plain ``json://``
...; see the Apprise wiki). Apprise knows how each service wants its message; this channel only
hands it the subject and body and says, without the URLs (they carry tokens), when it failed.

Apprise reports failure as False and logs the reason; the reason is captured from its log for
the one-line error, with anything URL-like cut out.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import apprise

from pipeline.errors import MassError
from pipeline.notify.channels import REASON_LIMIT, DeliveryError
from pipeline.notify.message import Notification
from pipeline.text import printable

_URLISH = re.compile(r"\b[a-z][a-z0-9+.-]*://\S*", re.IGNORECASE)


class AppriseUrlError(MassError, ValueError):
    """A configured URL is not one Apprise can use (the message gives its position only)."""


def service_name(url: str) -> str:
    """What a URL is for, safe to show: its scheme (``tgram``, ``slack``)."""
    return url.split("://", 1)[0].lower() if "://" in url else "?"


@dataclass
class AppriseChannel:
    urls: list[str]
    name: str = "apprise"
    _apprise: apprise.Apprise = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._apprise = apprise.Apprise()
        for number, url in enumerate(self.urls, start=1):
            if not self._apprise.add(url):
                raise AppriseUrlError(
                    f"alerts.apprise.urls: URL {number} ({service_name(url)}://…) is not one "
                    "Apprise can use"
                )

    @property
    def services(self) -> str:
        return ", ".join(sorted({service_name(u) for u in self.urls}))

    def send(self, notification: Notification, delivery_id: str = "") -> str | None:
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
            sent = self._apprise.notify(title=notification.subject, body=notification.body)
        if sent:
            return None
        told = [line for line in captured.getvalue().splitlines() if line.strip()]
        reason = _URLISH.sub("<url>", told[-1]) if told else "delivery failed"
        raise DeliveryError(printable(f"{self.services}: {reason}", REASON_LIMIT))
