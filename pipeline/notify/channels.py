"""Delivery channels: e-mail over SMTP and an HTTP webhook. Each raises
:class:`DeliveryError` with a one-line reason; retrying is the dispatcher's business."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from pipeline.notify.message import Notification
from pipeline.settings import EmailSettings, WebhookSettings


class DeliveryError(Exception):
    """The channel did not take the notification; the message says why."""


class Channel(Protocol):
    name: str

    def send(self, notification: Notification) -> None: ...


@dataclass(slots=True)
class EmailChannel:
    """SMTP with STARTTLS, implicit TLS, or plain (a trusted local relay); login when a user is
    given."""

    settings: EmailSettings
    password: str = ""
    name: str = "email"

    def send(self, notification: Notification) -> None:
        s = self.settings
        message = EmailMessage()
        message["Subject"] = notification.subject
        message["From"] = s.sender
        message["To"] = ", ".join(s.to)
        message.set_content(notification.body)
        try:
            context = ssl.create_default_context(cafile=s.ca_file or None)
            if s.security == "tls":
                client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=context)
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
            try:
                if s.security == "starttls":
                    client.starttls(context=context)
                if s.user:
                    client.login(s.user, self.password)
                client.send_message(message)
            finally:
                _quit_quietly(client)  # once the message is accepted, a failed QUIT is no failure
        except (OSError, smtplib.SMTPException, UnicodeError) as exc:
            raise DeliveryError(f"smtp {s.host}:{s.port}: {exc}") from None


def _quit_quietly(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()


@dataclass(slots=True)
class WebhookChannel:
    """POST the notification's JSON document; a bearer token when one is set."""

    settings: WebhookSettings
    token: str = ""
    name: str = "webhook"

    def send(self, notification: Notification) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = httpx.post(
                self.settings.url,
                json=notification.document,
                headers=headers,
                timeout=self.settings.timeout_s,
            )
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # ValueError: NaN in JSON
            raise DeliveryError(f"{self.host}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 300:
            raise DeliveryError(f"{self.host}: HTTP {response.status_code}: {response.text[:200]}")

    @property
    def host(self) -> str:
        """Where it posts, for messages: the host only (a chat tool's URL path is a secret)."""
        return urlsplit(self.settings.url).hostname or "(no host)"
