"""Who may call the API, and who a call is recorded as.

Loopback by default. Binding any other address needs ``MASS_TUI_API_TOKEN`` (a bearer token),
and then every ``/api/v1`` call needs it. Calls that change state (acknowledge, silence,
thresholds) always need a token: the configured one, or the service's local token, made at
start and written to the data directory readable by its user only, so that a console of the
same user on the same machine can act and nobody else can.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from urllib.parse import unquote

from pipeline.errors import MassError
from pipeline.text import printable

TOKEN_VARIABLE = "MASS_TUI_API_TOKEN"
MIN_TOKEN_LENGTH = 16
USER_HEADER = "x-mass-user"  # percent-encoded UTF-8 (HTTP headers are ASCII)


class AccessError(MassError):
    """The address cannot be served as asked (e.g. a public address without a token)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8765`` for IPv6). Raises ValueError saying what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"not a port: {port!r} (0-65535)")
    return host.strip("[]"), int(port)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made a call: the user the client names (``X-Mass-User``), and the token used."""

    user: str
    token: str  # "api token", "local token" or "" (none)

    @property
    def recorded(self) -> str:
        """As acknowledgements and silences record it."""
        return self.user or self.token or "anonymous"


@dataclass(frozen=True, slots=True)
class Access:
    token: str | None  # MASS_TUI_API_TOKEN
    local_token: str
    loopback: bool

    @classmethod
    def for_address(cls, host: str, token: str | None) -> Access:
        loopback = is_loopback(host)
        if not loopback and not token:
            raise AccessError(
                f"serving {host} beyond this machine needs {TOKEN_VARIABLE} (a bearer token) in "
                "the environment or .env; or serve 127.0.0.1"
            )
        if not loopback and len(token or "") < MIN_TOKEN_LENGTH:
            raise AccessError(
                f"{TOKEN_VARIABLE} is too short to guard {host}: give at least "
                f"{MIN_TOKEN_LENGTH} characters (e.g. python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(24))')"
            )
        return cls(token or None, secrets.token_urlsafe(24), loopback)

    def caller(self, authorization: str | None, user: str | None) -> Caller:
        """The caller, by the bearer token presented ("" token: none or a wrong one)."""
        presented = ""
        if authorization and authorization.lower().startswith("bearer "):
            presented = authorization[7:].strip()
        token = ""
        if self.token and hmac.compare_digest(presented.encode(), self.token.encode()):
            token = "api token"
        elif presented and hmac.compare_digest(presented.encode(), self.local_token.encode()):
            token = "local token"
        name = printable(" ".join(unquote(user or "").split()), 40)
        return Caller(name, token)

    def refusal(self, caller: Caller, *, changes_state: bool) -> str | None:
        """Why the call is refused (None: allowed)."""
        if caller.token:
            return None
        if changes_state:
            return f"this call changes state: it needs a bearer token ({TOKEN_VARIABLE})"
        if not self.loopback:
            return f"this service needs a bearer token ({TOKEN_VARIABLE})"
        return None
