"""Delivery channels: e-mail over SMTP and an HTTP webhook.

``send`` returns None once the receiver has confirmed, or a note when the notification was
handed over whole but no answer came (an SMTP relay that took the message after DATA and then
stayed silent past ``timeout_s``): it counts as delivered, unconfirmed, and is not sent again,
since a relay that queued it would otherwise mail it once per retry. Anything else raises
:class:`DeliveryError` with a one-line reason, whatever went wrong inside; retrying is the
dispatcher's business.

Every attempt at one outbox row carries the same ``delivery_id``: the e-mail's ``Message-ID``
and the webhook's ``Idempotency-Key`` header (draft-ietf-httpapi-idempotency-key-header), so a
receiver that saw it already can drop the repeat.
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

import httpx

from pipeline.errors import MassError
from pipeline.notify.message import Notification, body_text
from pipeline.settings import EmailSettings, WebhookSettings
from pipeline.text import printable

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

REASON_LIMIT = 300
"""A reason ends up in the one-line console header and in the log."""

RETRY_AFTER_STATUSES = (408, 429, 503)
"""The answers that may say when to come back (RFC 9110 sections 10.2.3, 15.5.9, 15.6.4;
RFC 6585 section 4)."""


class DeliveryError(MassError):
    """The channel did not take the notification; the message says why.

    ``permanent``: the receiver refused it in a way retrying cannot change (a webhook's 4xx
    other than 408 and 429). ``retry_after``: the receiver's Retry-After header, as sent (the
    dispatcher reads it on its own wall clock).
    """

    def __init__(
        self, reason: str, *, permanent: bool = False, retry_after: str | None = None
    ) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.retry_after = retry_after


class Channel(Protocol):
    name: str

    def send(self, notification: Notification, delivery_id: str = "") -> str | None: ...


def one_line(exc: BaseException) -> str:
    """An exception as a reason, on one line: its type, and its text if it has one."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return printable(text, REASON_LIMIT)


class _MessageWatch(smtplib.SMTP):
    """Mixed into smtplib's clients (first in their bases; an SMTP itself so that its calls
    up are typed) to tell whether the message itself went out: the bytes sent right after a
    DATA command (smtplib sends the whole message in one call, then reads the reply)."""

    message_sent = False
    _next_is_message = False

    def putcmd(self, cmd: str, args: str = "") -> None:
        self._next_is_message = False
        super().putcmd(cmd, args)
        self._next_is_message = cmd.lower() == "data"

    def send(self, s: ReadableBuffer | str) -> None:
        super().send(s)
        if self._next_is_message:
            self.message_sent = True


class _SMTP(_MessageWatch, smtplib.SMTP):
    pass


class _SMTPSSL(_MessageWatch, smtplib.SMTP_SSL):
    pass


def _unanswered(exc: BaseException) -> bool:
    """A lost connection or a timeout, not a reply refusing the message."""
    return isinstance(exc, smtplib.SMTPServerDisconnected) or (
        isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)
    )


@dataclass(slots=True)
class EmailChannel:
    """SMTP with STARTTLS, implicit TLS, or plain (a trusted local relay); login when a user is
    given."""

    settings: EmailSettings
    password: str = ""
    name: str = "email"

    def send(self, notification: Notification, delivery_id: str = "") -> str | None:
        s = self.settings
        where = f"smtp {s.host}:{s.port}"
        client: _SMTP | _SMTPSSL | None = None
        try:
            message = self.message(notification, delivery_id)
            context = ssl.create_default_context(cafile=s.ca_file or None)
            if s.security == "tls":
                client = _SMTPSSL(s.host, s.port, timeout=s.timeout_s, context=context)
            else:
                client = _SMTP(s.host, s.port, timeout=s.timeout_s)
            try:
                if s.security == "starttls":
                    client.starttls(context=context)
                if s.user:
                    client.login(s.user, self.password)
                client.send_message(message)
            finally:
                _quit_quietly(client)  # once the message is accepted, a failed QUIT is no failure
        except Exception as exc:  # whatever it is, the reason is one line
            if client is not None and client.message_sent and _unanswered(exc):
                return f"{where}: sent, but no answer came: {one_line(exc)}"
            raise DeliveryError(f"{where}: {one_line(exc)}") from None
        return None

    def message(self, notification: Notification, delivery_id: str = "") -> EmailMessage:
        """The e-mail: the subject on one line and the body without control characters, whoever
        composed them."""
        s = self.settings
        domain = parseaddr(s.sender)[1].rpartition("@")[2] or "localhost"
        message = EmailMessage()
        message["Subject"] = printable(notification.subject)
        message["From"] = s.sender
        message["To"] = ", ".join(s.to)
        message["Message-ID"] = (
            f"<{delivery_id}@{domain}>" if delivery_id else make_msgid(domain=domain)
        )
        message.set_content(body_text(notification.body))
        return message


def _quit_quietly(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()


@dataclass(slots=True)
class WebhookChannel:
    """POST the notification's JSON document; a bearer token when one is set.

    A 4xx answer other than 408 and 429 is permanent (the URL, the token or the document is
    wrong: repeating it for a day changes nothing); 408, 429 and 5xx are retried, after the
    Retry-After a 408, 429 or 503 gives. A timeout is retried too: an HTTP receiver may hold a
    request it has not acted on (a proxy waiting for its backend), and the Idempotency-Key lets
    one that did act drop the repeat.
    """

    settings: WebhookSettings
    token: str = ""
    name: str = "webhook"

    def send(self, notification: Notification, delivery_id: str = "") -> str | None:
        headers = {"Idempotency-Key": delivery_id or str(uuid.uuid4())}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = httpx.post(
                self.settings.url,
                json=notification.document,
                headers=headers,
                timeout=self.settings.timeout_s,
            )
        except Exception as exc:  # ValueError: NaN in JSON; the reason never names the URL
            raise DeliveryError(f"{self.host}: {one_line(exc)}") from None
        status = response.status_code
        if status < 300:
            return None
        reason = f"{self.host}: HTTP {status}: {printable(response.text, 200)}"
        if status in RETRY_AFTER_STATUSES:
            raise DeliveryError(reason, retry_after=response.headers.get("Retry-After"))
        raise DeliveryError(reason, permanent=400 <= status < 500)

    @property
    def host(self) -> str:
        """Where it posts, for messages: the host only (a chat tool's URL path is a secret)."""
        return urlsplit(self.settings.url).hostname or "(no host)"
