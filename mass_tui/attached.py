"""A console attached to a service: what :class:`~pipeline.runtime.Pipeline` offers the
console, read from the service's HTTP API, so the console shows the service's live data and
its keys act on the service's alerts and thresholds.

Nothing here blocks the console's UI thread on the network: a poller thread fetches
``/api/v1/console`` (one call a refresh) and the series of the stations the console looks at;
acknowledgements, silences and threshold changes go to a sender thread, and their outcome
(or the service's refusal) comes back as a notice. While the service cannot be reached the
console keeps the last data and says so in its status line.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
import numpy as np

from mass_tui.http.access import USER_HEADER
from mass_tui.http.console_view import ConsoleView, decode_view, series_arrays, snapshot_of
from pipeline.alert_desk import AlertDesk
from pipeline.alerts import LIFTED, Alert, StationSilence
from pipeline.anomaly import Anomaly
from pipeline.detectors import Threshold
from pipeline.errors import MassError
from pipeline.health import WorkerHealth
from pipeline.rollup import PeriodStats
from pipeline.runtime import PipelineSnapshot, StationFocus
from pipeline.series import min_max_thin
from pipeline.settings import PipelineSettings
from pipeline.text import printable
from pipeline.times import parse_instant

log = logging.getLogger(__name__)
SERVICE = "service"
SERIES_INTEREST_S = 10.0  # a station's series is fetched while the console asked within this
TIMEOUT_S = 5.0

Notice = Callable[[str, str], None]  # (message, severity)


def path_segment(station_id: str) -> str:
    """A station id as one path segment: a "/" or a "." or ".." id would otherwise be taken
    apart or normalised away on its way to the service."""
    return quote(station_id, safe="").replace(".", "%2E")


class ServiceUnreachable(MassError):
    """The service cannot be reached or refuses the console (the message says which)."""


class ServiceClient:
    """HTTP calls to a service, with its token. ``locate`` finds the service again (its URL
    and token) when it cannot be reached or refuses the token: a service on this machine makes
    a new local token each time it starts (and may listen elsewhere), and a console attached
    across its restart reads them from its ``service.json``."""

    def __init__(
        self,
        url: str,
        token: str | None,
        locate: Callable[[], tuple[str, str | None] | None] | None = None,
    ) -> None:
        self._locate = locate
        self._client = httpx.Client(timeout=TIMEOUT_S)
        self._use(url, token)

    def _use(self, url: str, token: str | None) -> None:
        self.url, self._token = url, token
        self._client.base_url = httpx.URL(url)
        self._client.headers.pop("Authorization", None)
        if token:
            self._client.headers["Authorization"] = f"Bearer {token}"

    def _found_again(self) -> bool:
        """Whether the service is now elsewhere or has another token (then use them)."""
        found = self._locate() if self._locate is not None else None
        if found is None or found == (self.url, self._token):
            return False
        self._use(*found)
        return True

    def view(self, series: list[str], tail_of: str = "", points: int = 0) -> ConsoleView:
        params = {"series": ",".join(series), "tail": tail_of, "points": str(points)}
        response = self._call("GET", "/api/v1/console", params=params)
        try:
            return decode_view(response.content)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ServiceUnreachable(f"{self.url} sent what is not a console view: {exc}") from None

    def get(self, path: str, params: dict) -> Any:
        return self._call("GET", path, params=params).json()

    def call(self, method: str, path: str, user: str, body: dict | None = None) -> dict:
        response = self._call(method, path, json=body, headers={USER_HEADER: quote(user, safe="")})
        return response.json()

    def _call(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            try:
                response = self._client.request(method, path, **kwargs)
            except httpx.TransportError:
                if not self._found_again():
                    raise
                response = self._client.request(method, path, **kwargs)
            if response.status_code == 401 and self._found_again():
                response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceUnreachable(f"cannot reach the service at {self.url}: {exc}") from None
        if response.status_code >= 400:
            try:
                error = response.json().get("error", "")
            except ValueError:
                error = response.text[:200]
            raise ServiceUnreachable(f"the service says {response.status_code}: {error}")
        return response

    def close(self) -> None:
        self._client.close()


class ViewClock:
    """The service's observed time, as of the last view (what ``pipeline.clock`` is for)."""

    def __init__(self) -> None:
        self.value = 0.0

    def now(self) -> float:
        return self.value


@dataclass(slots=True)
class ServiceDesk:
    """An attached console's alert desk (see :class:`pipeline.alert_desk.AlertDesk`): each
    intent is a request to the service's API, sent from the sender thread; the alert changes
    at the next poll. Answers are as the last view has the alerts."""

    attached: AttachedPipeline
    goes_to: str = "the service"

    def acknowledge(self, alert_id: int, user: str) -> Alert | None:
        """The alert as it is when the acknowledgement is sent (None: nothing to send)."""
        alert = self.attached.alert(alert_id)
        if alert is None or alert.state != "active":
            return None
        path = f"/api/v1/alerts/{alert_id}/ack"
        self.attached.ask(f"acknowledging alert {alert_id}", "POST", path, user)
        return alert

    def silence(
        self,
        user: str,
        *,
        alert_id: int | None = None,
        station_id: str | None = None,
        until: float | None = None,
    ) -> list[Alert]:
        now = self.attached.clock.now()
        minutes = self.attached.settings.silence_s / 60 if until is None else (until - now) / 60
        return self._change("silence", user, alert_id, station_id, {"minutes": minutes})

    def unsilence(
        self, user: str, *, alert_id: int | None = None, station_id: str | None = None
    ) -> list[Alert]:
        return self._change("unsilence", user, alert_id, station_id, None)

    def station_silenced(self, station_id: str) -> bool:
        silence = self.attached.station_silence(station_id)
        return silence is not None and self.attached.clock.now() < silence.until

    def _change(
        self,
        action: str,
        user: str,
        alert_id: int | None,
        station_id: str | None,
        body: dict | None,
    ) -> list[Alert]:
        now = self.attached.clock.now()
        if station_id is not None:
            self.attached.ask(
                f"{action} station {station_id}",
                "POST",
                f"/api/v1/stations/{path_segment(station_id)}/{action}",
                user,
                body,
            )
            until = now + body["minutes"] * 60 if body else LIFTED
            self.attached.note_station_silence(station_id, StationSilence(until, user, now))
            return []
        alert = self.attached.alert(alert_id or -1)
        if alert is None or not alert.is_open:
            return []
        path = f"/api/v1/alerts/{alert.id}/{action}"
        self.attached.ask(f"{action} alert {alert.id}", "POST", path, user, body)
        return [alert]


class AttachedPipeline:
    """The console's pipeline when a service runs the real one."""

    def __init__(
        self,
        client: ServiceClient,
        settings: PipelineSettings,
        first: ConsoleView,
        *,
        poll_s: float = 1.0,
    ) -> None:
        self.client = client
        self.settings = settings
        self.service_pid = first.pid
        self.clock = ViewClock()
        self.poll_s = poll_s
        self.tell: Notice = lambda message, severity: None  # set by the console
        self._lock = threading.Lock()
        self._view = first
        self._snapshot = snapshot_of(first)
        self.clock.value = first.now
        self._problem = ""
        self._interest: dict[str, float] = {}
        self._tail_wanted = ("", 0)  # (variable, points) the console last asked for
        self._stop = threading.Event()
        self._commands: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self.desk: AlertDesk = ServiceDesk(self)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        for name, target in (("service-poll", self._poll), ("service-send", self._send)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling; send what was asked before (the service keeps running)."""
        self._stop.set()
        self._commands.put(None)
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        self.client.close()

    def _poll(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            with self._lock:
                wanted = [s for s, at in self._interest.items() if now - at < SERIES_INTEREST_S]
                tail_of, points = self._tail_wanted
            try:
                view = self.client.view(wanted, tail_of, points)
            except ServiceUnreachable as exc:
                self._problem = str(exc)
            else:
                with self._lock:
                    self._view = view
                    self._snapshot = snapshot_of(view)
                    self.clock.value = view.now
                    self.service_pid = view.pid  # a new one after the service restarted
                self._problem = ""
            self._stop.wait(self.poll_s)

    def _send(self) -> None:
        while (command := self._commands.get()) is not None:
            try:
                command()
            except Exception:  # one command must not end the sending of the next
                log.exception("sending a command to the service failed")

    # -- what to show ----------------------------------------------------------------------

    def snapshot(
        self, tail_of: str | None = None, points: int = 0, focus: str | None = None
    ) -> PipelineSnapshot:
        """As :meth:`Pipeline.snapshot`; the tail asked for is fetched from the next poll on
        (the one in hand is of what was asked before, or none), and so is the focus's
        history."""
        if focus is not None:
            times, values = self.recent_series(focus)
            station_focus = StationFocus(focus, times, values, self.latest_zscores(focus))
        with self._lock:
            self._tail_wanted = (tail_of or "", points)
            snap = replace(self._snapshot, health=list(self._snapshot.health))
            if self._view.tail_of != tail_of or snap.tail.shape[1:] != (points,):
                snap.tail = np.empty((len(snap.stations), 0))
            if focus is not None:
                snap.focus = station_focus
                snap.thresholds = {n: list(t) for n, t in self._view.thresholds.items()}
        if self._problem:
            snap.health.append(WorkerHealth(SERVICE, "failing", self._problem))
        return snap

    def problems(self) -> list[str]:
        return [f"{SERVICE} failing: {self._problem}"] if self._problem else []

    def _series(self, station_id: str):
        with self._lock:
            self._interest[station_id] = time.monotonic()
            return self._view.series.get(station_id)

    def recent_series(self, station_id: str) -> tuple[np.ndarray, np.ndarray]:
        series = self._series(station_id)
        if series is None:
            return np.empty(0), np.empty((0, len(self.settings.variables)))
        return series_arrays(series, len(self.settings.variables))

    def latest_zscores(self, station_id: str) -> np.ndarray:
        series = self._series(station_id)
        if series is None:
            return np.full(len(self.settings.variables), np.nan)
        return np.array(series.zscores, dtype=np.float64)

    def thresholds(self, variable: str) -> list[Threshold]:
        with self._lock:
            return list(self._view.thresholds.get(variable, []))

    # -- intents: sent to the service ------------------------------------------------------

    def ask(self, what: str, method: str, path: str, user: str, body: dict | None = None) -> None:
        """Send a request to the service from the sender thread; a failure is told (``what``
        failed: why) and the sender goes on with the next."""

        def send() -> None:
            try:
                self.client.call(method, path, user, body)
            except Exception as exc:  # said, and the sender goes on with the next
                log.warning("%s failed", what, exc_info=not isinstance(exc, ServiceUnreachable))
                self.tell(f"{what} failed: {exc}", "error")

        self._commands.put(send)

    def alert(self, alert_id: int) -> Alert | None:
        """The alert as the last view has it."""
        with self._lock:
            return next((a for a in self._view.alerts if a.id == alert_id), None)

    def station_silence(self, station_id: str) -> StationSilence | None:
        with self._lock:
            return self._view.silences.get(station_id)

    def note_station_silence(self, station_id: str, silence: StationSilence) -> None:
        """Known here now, not only at the next poll."""
        with self._lock:
            self._view.silences[station_id] = silence

    def put_threshold(self, threshold: Threshold, value: float, user: str) -> None:
        """Ask the service to apply and save a threshold; the outcome comes as a notice."""

        def send() -> None:
            body = {
                "detector": threshold.detector,
                "parameter": threshold.parameter,
                "variable": threshold.variable,
                "value": value,
            }
            try:
                done = self.client.call("PUT", "/api/v1/thresholds", user, body)
            except ServiceUnreachable as exc:
                self.tell(f"threshold not changed: {exc}", "error")
                return
            with self._lock:
                for variable in self._view.thresholds:
                    self._view.thresholds[variable] = [
                        msgspec.convert(t, Threshold)
                        for t in done["thresholds"]
                        if t["variable"] == variable
                    ]
            note = f"; {printable(done['note'])}" if done["note"] else ""
            saved = "saved by the service" if done["saved"] else "applied by the service"
            severity = "warning" if note else "information"
            self.tell(f"{done['setting']} = {done['value']:g} {saved}{note}", severity)

        self._commands.put(send)


def attach(
    url: str,
    token: str | None,
    settings: PipelineSettings,
    locate: Callable[[], tuple[str, str | None] | None] | None = None,
) -> AttachedPipeline:
    """Connect to the service at ``url``; raises ServiceUnreachable (said in one line).
    ``locate``: see :class:`ServiceClient`."""
    client = ServiceClient(url, token, locate)
    try:
        first = client.view([])
    except ServiceUnreachable:
        client.close()
        raise
    attached_settings = replace(settings, variables=tuple(first.variables))
    return AttachedPipeline(client, attached_settings, first)


class ServiceReader:
    """The store reads a console makes (long chart spans, the anomalies a filter reaches),
    from an attached service's API. Called from the console's reader thread."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    def _points(self, station_id: str, params: dict) -> dict:
        path = f"/api/v1/stations/{path_segment(station_id)}/series"
        return self.client.get(path, params)

    def series(
        self,
        station_id: str,
        variable: str,
        since: float,
        until: float | None = None,
        max_points: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        params = {"variable": variable, "since": repr(since)}
        if until is not None and math.isfinite(until):
            params["until"] = repr(until)
        points = self._points(station_id, params)["points"]
        times = np.array([parse_instant(p["t"]) for p in points], dtype=np.float64)
        values = np.array([p["value"] for p in points], dtype=np.float64)
        if max_points is not None and len(times) > max_points:
            keep = min_max_thin(times, values, max_points)
            times, values = times[keep], values[keep]
        return times, values

    def minute_envelope(
        self, station_id: str, variable: str, since: float, until: float = math.inf
    ) -> tuple[np.ndarray, np.ndarray]:
        params = {"variable": variable, "since": repr(since), "step": "60"}
        if math.isfinite(until):
            params["until"] = repr(until)
        periods = self._points(station_id, params)["periods"]
        starts = np.array([parse_instant(p["t"]) for p in periods], dtype=np.float64)
        times = np.column_stack([starts + 20.0, starts + 40.0]).ravel()
        values = np.array([[p["min"], p["max"]] for p in periods], dtype=np.float64).ravel()
        return times, values

    def anomalies(self, *, limit: int = 500, min_score: float = 0.0) -> list[Anomaly]:
        found = self.client.get(
            "/api/v1/anomalies", {"limit": str(min(limit, 10_000)), "min_score": repr(min_score)}
        )
        return [
            Anomaly(
                **{
                    **a,
                    **{
                        name: math.nan if a[name] is None else a[name]
                        for name in ("value", "score", "threshold", "statistic")
                    },
                    "observed_at": parse_instant(a["observed_at"]),
                    "event_start": None
                    if a["event_start"] is None
                    else parse_instant(a["event_start"]),
                }
            )
            for a in found
        ]

    def stats(
        self,
        variable: str,
        step_s: float,
        since: float,
        until: float = math.inf,
        station_id: str | None = None,
    ) -> list[PeriodStats]:
        """As :meth:`pipeline.store.StoreReader.stats`, for hours and days (the API's periods)."""
        period = {3600.0: "hour", 86_400.0: "day"}[step_s]
        params = {"variable": variable, "period": period, "since": repr(since)}
        if math.isfinite(until):
            params["until"] = repr(until)
        if station_id is not None:
            params["station"] = station_id
        found = self.client.get("/api/v1/stats", params)
        return [
            PeriodStats(
                station_id=r["station"],
                variable=r["variable"],
                start=parse_instant(r["period_start"]),
                count=r["count"],
                minimum=r["min"],
                mean=r["mean"],
                maximum=r["max"],
                stddev=math.nan if r["stddev"] is None else r["stddev"],
            )
            for r in found["rows"]
        ]

    def close(self) -> None:
        """The client is the attached pipeline's: it closes it."""
