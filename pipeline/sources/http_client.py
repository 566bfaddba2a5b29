"""The HTTP machinery the weather-API sources share: one connection pool per source, a schedule
that backs off on failure, a status for the console, and the rules for turning a bad answer
into a log line, a state and a :class:`~pipeline.quarantine.Rejection` instead of an exception.

Nothing here sleeps. :class:`Backoff` only says *when* the next request may go out, on an
injected clock; a source's ``poll()`` asks it and returns at once when it is not time yet. The
producer loop therefore stays responsive (stopping is quick), and tests move time by advancing
a :class:`~pipeline.clock.FixedClock`.
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
import random
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec

from pipeline.clock import Clock
from pipeline.errors import MassError
from pipeline.observation import Observation
from pipeline.quarantine import Rejection
from pipeline.stations import Station

log = logging.getLogger(__name__)

PAYLOAD_LIMIT_BYTES = 10_000
"""A rejected body is kept for the operator to read, but a runaway error page must not fill the
quarantine."""

ERROR_TEXT_LIMIT = 200
"""Error texts end up in the one-line console header."""

UNAUTHORIZED = "invalid or not yet activated API key"
"""OpenWeatherMap answers 401 for both; a new key takes a while to be activated (OWM FAQ)."""

_CREDENTIAL_PARAMETER = re.compile(
    r"(\b(?:appid|api_?key|access_token|token)=)[^&\s\"'<>]+", re.IGNORECASE
)
SECRET_URL_PART_MIN = 8
"""A URL path or query shorter than this is not taken for a secret ("/", "/hook"): replacing
it everywhere would garble ordinary words in every line."""
_DELAY_SECONDS = re.compile(r"\d+", re.ASCII)


class BodyError(MassError, ValueError):
    """A response body, or part of one, that is not shaped as the API documents it. The message
    names what was wrong (``missing current.time``) and becomes a rejection's reason."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One reading of an otherwise usable body that could not be used, and why."""

    variable: str
    reason: str


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with jitter (Brooker, "Exponential Backoff And Jitter", AWS
    Architecture Blog, 2015).

    The n-th failure in a row waits ``min(max_delay_s, base_delay_s * multiplier**(n-1))``,
    shortened by a random fraction of up to ``jitter`` of itself: clients that failed together
    do not retry together, and no wait exceeds the cap.
    """

    base_delay_s: float = 2.0
    max_delay_s: float = 300.0
    multiplier: float = 2.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.base_delay_s <= self.max_delay_s:
            raise ValueError("retry delays must satisfy 0 < base_delay_s <= max_delay_s")
        if self.multiplier < 1:
            raise ValueError("retry multiplier must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("retry jitter must be a fraction in [0, 1)")

    def delay(self, failures: int, rng: random.Random) -> float:
        """Seconds to wait after ``failures`` consecutive failures (1 for the first)."""
        exponent = min(max(failures - 1, 0), 64)  # the cap is reached long before; no overflow
        capped = min(self.max_delay_s, self.base_delay_s * self.multiplier**exponent)
        return capped * (1.0 - self.jitter * rng.random())


class Backoff:
    """When the next request may be made, on ``clock``: at once at first, a poll period after
    the start of a successful round, or after the policy's delay (or the server's Retry-After)
    following a failure."""

    def __init__(self, policy: RetryPolicy, clock: Clock, rng: random.Random) -> None:
        self.policy = policy
        self._clock = clock
        self._rng = rng
        self.failures = 0
        """Consecutive failed attempts; 0 after a success."""
        self.next_attempt_at = -math.inf
        """On ``clock``."""

    def due(self) -> bool:
        return self._clock.now() >= self.next_attempt_at

    def succeeded(self, next_attempt_at: float) -> None:
        self.failures = 0
        self.next_attempt_at = next_attempt_at

    def failed(self, delay_s: float | None = None) -> float:
        """Count a failure and schedule the retry; ``delay_s`` (a Retry-After, or the cap for
        errors that retrying soon cannot fix) replaces the policy's delay. Returns the wait."""
        self.failures += 1
        wait = self.policy.delay(self.failures, self._rng) if delay_s is None else delay_s
        self.next_attempt_at = self._clock.now() + wait
        return wait


@dataclass(frozen=True, slots=True)
class Reply:
    """A 2xx answer: the body as text (for rejections) and as decoded JSON."""

    text: str
    data: Any


def user_agent() -> str:
    """Providers ask API clients to identify themselves."""
    try:
        version = importlib.metadata.version("mass-tui")
    except importlib.metadata.PackageNotFoundError:
        version = "dev"
    return f"mass-tui/{version}"


def endpoint(api_base: str, path: str) -> str:
    """``api_base`` joined with ``path``; a base that is not an http(s) URL is a configuration
    error, raised here rather than failing every poll."""
    try:
        url = httpx.URL(api_base)
    except httpx.InvalidURL as exc:
        raise ValueError(f"invalid API base URL {api_base!r}: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"API base URL {api_base!r} must be an http:// or https:// URL")
    return api_base.rstrip("/") + path


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` without credentials: the value of a credential query parameter (``appid=``,
    ``api_key=``, ``token=``...) and any of ``secrets``, each replaced by ``***``. The one place
    that redacts: sources, rejections and log records (:class:`RedactingFilter`) all use it."""
    text = _CREDENTIAL_PARAMETER.sub(r"\1***", text)
    for secret in sorted(secrets, key=len, reverse=True):  # a longer one may hold a shorter
        if secret:
            text = text.replace(secret, "***")
    return text


def url_secrets(url: str) -> tuple[str, ...]:
    """What of ``url`` is a credential: its path (without the leading slash, so a redacted URL
    still shows its host: ``https://hooks.example/***``) and its query, as written and as
    httpx encodes them. A chat tool's webhook URL carries its token in the path."""
    try:
        encoded = httpx.URL(url)
    except httpx.InvalidURL:
        encoded = None
    split = urlsplit(url)
    parts = [split.path.strip("/"), split.query]
    if encoded is not None:
        parts += [
            encoded.raw_path.decode("ascii").partition("?")[0].strip("/"),
            encoded.query.decode(),
        ]
    return tuple(dict.fromkeys(p for p in parts if len(p) >= SECRET_URL_PART_MIN))


def retry_after_s(value: str | None, wall_now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks for: delay-seconds or an HTTP-date (RFC 9110
    section 10.2.3); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, says RFC 5322 section 3.3
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - wall_now)


def number_at(body: Any, path: str, *, required: bool = True) -> float | None:
    """The number at dotted ``path`` in a decoded JSON body (``main.temp``).

    None when the API sent null (its way of saying "no data") or, if not ``required``, when the
    field is absent. Raises :class:`BodyError` naming the path when a required field is absent
    or a value is not a number.
    """
    node = body
    parts = path.split(".")
    for depth, key in enumerate(parts):
        if not isinstance(node, dict):
            raise BodyError(f"{'.'.join(parts[:depth]) or 'body'} is not a JSON object")
        if key not in node:
            if required:
                raise BodyError(f"missing {path}")
            return None
        node = node[key]
    if node is None:
        return None
    if isinstance(node, bool) or not isinstance(node, int | float):
        raise BodyError(f"{path} is not a number: {node!r:.40}")
    return float(node)


def _api_reason(response: httpx.Response) -> str:
    """The explanation an error body carries (Open-Meteo ``reason``, OpenWeatherMap
    ``message``), else the HTTP reason phrase."""
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        body = None
    if isinstance(body, dict):
        for key in ("reason", "message"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key]
    return response.reason_phrase


def _timeout_text(exc: httpx.TimeoutException, timeout: httpx.Timeout) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connect timeout after {timeout.connect:g} s"
    if isinstance(exc, httpx.ReadTimeout):
        return f"read timeout after {timeout.read:g} s"
    return f"timeout ({type(exc).__name__})"


class RedactingFilter(logging.Filter):
    """Takes credentials (see :func:`redact`) out of log records: the message with its
    arguments, the traceback and the stack. ``urls``: URLs whose path and query are secrets.

    On a handler it covers every logger writing there; on a logger only that logger's own
    records (not its children's). httpx logs each request URL at INFO, query included, and
    httpcore the response headers (a redirect's ``Location``) at DEBUG.
    """

    def __init__(self, secrets: Sequence[str] = (), urls: Sequence[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s) + tuple(
            part for url in urls for part in url_secrets(url)
        )

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: the handler reports it
            return True
        cleaned = redact(message, self._secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._secrets)
        return True


class HttpPoller:
    """One source's HTTP side: a reused ``httpx.Client``, the :class:`Backoff` schedule, the
    status, and the rejections of what came back malformed.

    A source calls :meth:`due`, then :meth:`get_json` once or more (a *round*), then
    :meth:`succeeded` if the round went through; any failure inside :meth:`get_json` or
    reported with :meth:`fail_body` ends the round and schedules the retry. Each distinct error
    is logged once per failure streak, not once per attempt.
    """

    def __init__(
        self,
        source: str,
        *,
        poll_seconds: float,
        clock: Clock,
        wall: Clock,
        rng: random.Random,
        retry: RetryPolicy,
        timeout_s: float,
        connect_timeout_s: float,
        secrets: Sequence[str] = (),
    ) -> None:
        if poll_seconds <= 0:
            raise ValueError("poll_seconds must be positive")
        self.source = source
        self._poll_seconds = poll_seconds
        self._clock = clock
        self._wall = wall
        self._secrets = tuple(s for s in secrets if s)
        self._backoff = Backoff(retry, clock, rng)
        self._timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        self._client = httpx.Client(
            timeout=self._timeout,
            headers={"User-Agent": user_agent(), "Accept": "application/json"},
            follow_redirects=True,
        )
        self._log_filter = RedactingFilter(self._secrets) if self._secrets else None
        if self._log_filter is not None:
            logging.getLogger("httpx").addFilter(self._log_filter)
        self._round_started: float | None = None
        self._last_url = ""
        self._last_error: str | None = None
        self._failing_since: float | None = None
        self._last_success_at: float | None = None
        self._logged: set[str] = set()
        self._noted: set[tuple[str | None, str | None, str]] = set()
        self._rejections: list[Rejection] = []

    def due(self) -> bool:
        return self._backoff.due()

    def get_json(self, url: str, params: Mapping[str, str]) -> Reply | None:
        """One GET. The decoded body of a 2xx answer, or None when the attempt failed: the
        failure is then recorded, logged and scheduled for a retry, and a body that is not JSON
        is kept as a rejection."""
        if self._round_started is None:
            self._round_started = self._clock.now()
        self._last_url = redact(str(httpx.URL(url, params=params)), self._secrets)
        try:
            response = self._client.get(url, params=params)
        except httpx.TimeoutException as exc:
            self._fail(_timeout_text(exc, self._timeout))
            return None
        except httpx.HTTPError as exc:
            self._fail(f"{type(exc).__name__}: {exc}")
            return None
        if not response.is_success:
            self._fail_status(response)
            return None
        try:
            data = msgspec.json.decode(response.content)
        except msgspec.DecodeError as exc:
            reason = "truncated JSON" if "truncated" in str(exc) else f"malformed JSON ({exc})"
            self.fail_body(reason, response.text)
            return None
        return Reply(response.text, data)

    def succeeded(self) -> None:
        """The round went through: reset the backoff; the next round is due a poll period after
        this one started."""
        if self._backoff.failures:
            log.info("%s: recovered after %d failed attempts", self.source, self._backoff.failures)
        started = self._clock.now() if self._round_started is None else self._round_started
        self._backoff.succeeded(started + self._poll_seconds)
        self._round_started = None
        self._last_error = None
        self._failing_since = None
        self._last_success_at = self._wall.now()
        self._logged.clear()

    def fail_body(self, reason: str, payload: str) -> None:
        """A 2xx body that cannot be used at all: a failed attempt, and a rejection."""
        self._add_rejection(reason, payload, None, None)
        self._fail(reason)

    def reject(
        self,
        reason: str,
        payload: str,
        *,
        station_id: str | None = None,
        variable: str | None = None,
    ) -> None:
        """Part of a usable body (one location, one reading) could not be used; the rest went
        on. Logged once per distinct station, variable and reason."""
        rejection = self._add_rejection(reason, payload, station_id, variable)
        key = (station_id, variable, rejection.reason)
        if key not in self._noted:
            self._noted.add(key)
            log.warning(
                "%s: rejected %s%s: %s",
                self.source,
                f"station {station_id}" if station_id else "a location",
                f" {variable}" if variable else "",
                rejection.reason,
            )

    def drain_rejections(self) -> list[Rejection]:
        drained, self._rejections = self._rejections, []
        return drained

    def state(self) -> str:
        """``waiting`` before the first answer, ``ok``, ``retrying in N s (error)`` for the
        first two failures in a row, then ``failing since HH:MM:SSZ: error``."""
        failures = self._backoff.failures
        if failures == 0:
            return "waiting" if self._last_success_at is None else "ok"
        if failures > 2 and self._failing_since is not None:
            since = time.strftime("%H:%M:%S", time.gmtime(self._failing_since))
            return f"failing since {since}Z: {self._last_error}"
        remaining = max(0, math.ceil(self._backoff.next_attempt_at - self._clock.now()))
        return f"retrying in {remaining} s ({self._last_error})"

    def close(self) -> None:
        self._client.close()
        if self._log_filter is not None:
            logging.getLogger("httpx").removeFilter(self._log_filter)

    def _fail_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == 401:
            # Retrying soon cannot fix a key: wait the longest, say so once and loudly.
            self._fail(f"HTTP 401: {UNAUTHORIZED}", delay_s=self._max_delay(), severe=True)
            return
        reason = _api_reason(response)
        error = f"HTTP {status}: {reason}" if reason else f"HTTP {status}"
        if status in (408, 429) or status >= 500:
            # Retry-After comes with 429 and may come with 503 (RFC 9110 section 10.2.3).
            wait = retry_after_s(response.headers.get("Retry-After"), self._wall.now())
            self._fail(error, delay_s=wait)
        else:
            # Other 4xx: the request itself is wrong (a bad parameter, an unknown path);
            # repeating it soon would only repeat the error.
            self._fail(error, delay_s=self._max_delay(), severe=True)

    def _max_delay(self) -> float:
        return self._backoff.policy.max_delay_s

    def _fail(self, error: str, *, delay_s: float | None = None, severe: bool = False) -> None:
        error = redact(error, self._secrets)[:ERROR_TEXT_LIMIT]
        wait = self._backoff.failed(delay_s)
        self._round_started = None
        self._last_error = error
        if self._failing_since is None:
            self._failing_since = self._wall.now()
        if error not in self._logged:
            self._logged.add(error)
            log.log(
                logging.ERROR if severe else logging.WARNING,
                "%s: %s (GET %s); next attempt in %.0f s",
                self.source,
                error,
                self._last_url,
                wait,
            )

    def _add_rejection(
        self, reason: str, payload: str, station_id: str | None, variable: str | None
    ) -> Rejection:
        body = redact(payload, self._secrets).encode()[:PAYLOAD_LIMIT_BYTES]
        rejection = Rejection(
            received_at=self._wall.now(),
            source=self.source,
            reason=redact(reason, self._secrets)[:ERROR_TEXT_LIMIT],
            payload=body.decode(errors="ignore"),
            station_id=station_id,
            variable=variable,
        )
        self._rejections.append(rejection)
        return rejection


class HttpSource:
    """What the two API sources share beyond the poller: the Source protocol's bookkeeping
    methods (delegated to ``self._http``) and building an observation for a station."""

    name: str
    _http: HttpPoller
    exhausted = False  # a live service has always more to come

    def _observation(
        self, station: Station, observed_at: float, values: dict[str, float]
    ) -> Observation:
        return Observation(
            station_id=station.station_id,
            station_name=station.name,
            lat=station.latitude,
            lon=station.longitude,
            observed_at=observed_at,
            source=self.name,
            values=values,
        )

    cut_short = None  # an API gives what it has now; a failing one shows in state()

    def state(self) -> str:
        return self._http.state()

    def drain_rejections(self) -> list[Rejection]:
        return self._http.drain_rejections()

    def close(self) -> None:
        self._http.close()
