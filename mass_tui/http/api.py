"""The service's HTTP API (Starlette): health, metrics, stations, series, anomalies, alerts,
thresholds and statistics, as JSON under ``/api/v1``, described at ``/api/v1/openapi.json``.

Every endpoint is declared once in :data:`ENDPOINTS`, which both routes the calls and writes
the OpenAPI document. Handlers are plain functions run in Starlette's thread pool: the store
reader and the pipeline are safe to call from threads, and a slow read never stalls the
event loop. Any failure becomes a JSON error with a 4xx or 5xx status, never a traceback.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, overload

import msgspec
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mass_tui.http import schemas
from mass_tui.http.access import USER_HEADER, Access, Caller
from mass_tui.http.console_view import console_view
from mass_tui.http.metrics import CONTENT_TYPE, exposition
from mass_tui.settings_layers import LoadedSettings
from mass_tui.threshold_changes import change_threshold
from pipeline.rollup import MINUTE_S
from pipeline.runtime import Pipeline
from pipeline.store import StoreError, StoreReader
from pipeline.text import printable
from pipeline.threshold_catalogue import setting_key
from pipeline.times import iso_utc, parse_instant

log = logging.getLogger(__name__)
_encoder = msgspec.json.Encoder()
PERIODS = {"minute": MINUTE_S, "hour": 3600.0, "day": 86_400.0}
MAX_TAIL_POINTS = 64  # a console's station list asks for a handful
ALERT_STATES = ("open", "active", "acknowledged", "cleared", "all")
MAX_LIMIT = 10_000
MAX_POINTS = 100_000
MAX_BODY = 64 * 1024
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
REF = "#/components/schemas/{name}"


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


def fail(status: int, message: str) -> HTTPException:
    return HTTPException(status, printable(message, 300))


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: str  # string | number | integer
    doc: str
    required: bool = False
    where: str = "query"


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: str  # the ServiceApi method
    summary: str
    response: type
    params: tuple[Param, ...] = ()
    body: type | None = None
    changes_state: bool = False
    status: dict[int, str] = field(default_factory=dict)


SINCE = Param("since", "string", "ISO 8601 time or epoch seconds")
UNTIL = Param("until", "string", "ISO 8601 time or epoch seconds")
STATION_PATH = Param("station_id", "string", "the station's id (percent-encoded)", True, "path")
ALERT_PATH = Param("alert_id", "integer", "the alert's id", True, "path")

ENDPOINTS = (
    Endpoint("GET", "/healthz", "healthz", "Per-worker health (503 while failing)", schemas.Health),
    Endpoint("GET", "/metrics", "metrics", "Prometheus text format", str),
    Endpoint("GET", "/api/v1/openapi.json", "openapi", "This document", dict),
    Endpoint(
        "GET",
        "/api/v1/stations",
        "stations",
        "Stations, latest values, state",
        list[schemas.StationState],
    ),
    Endpoint(
        "GET",
        "/api/v1/stations/{station_id:path}/series",
        "series",
        "One variable's readings, or roll-ups per step (a whole number of minutes)",
        schemas.Series,
        (
            STATION_PATH,
            Param("variable", "string", "a declared variable", True),
            SINCE,
            UNTIL,
            Param("step", "number", "seconds per roll-up (60, 3600...); 0 or absent: readings"),
        ),
    ),
    Endpoint(
        "GET",
        "/api/v1/anomalies",
        "anomalies",
        "Stored anomalies, newest first",
        list[schemas.AnomalyDoc],
        (
            SINCE,
            Param("station", "string", "a station id"),
            Param("variable", "string", "a variable"),
            Param("detector", "string", "a detector or rule"),
            Param("min_score", "number", "0..1"),
            Param("limit", "integer", f"at most {MAX_LIMIT} (default 500)"),
        ),
    ),
    Endpoint(
        "GET",
        "/api/v1/alerts",
        "alerts",
        "Alerts, open first",
        list[schemas.AlertDoc],
        (Param("state", "string", f"one of {', '.join(ALERT_STATES)} (default open)"),),
    ),
    Endpoint(
        "POST",
        "/api/v1/alerts/{alert_id}/ack",
        "acknowledge",
        "Acknowledge an open alert",
        schemas.AlertsChanged,
        (ALERT_PATH,),
        changes_state=True,
    ),
    Endpoint(
        "POST",
        "/api/v1/alerts/{alert_id}/silence",
        "silence_alert",
        "Silence an alert's notifications for some minutes",
        schemas.AlertsChanged,
        (ALERT_PATH,),
        body=schemas.SilenceRequest,
        changes_state=True,
    ),
    Endpoint(
        "POST",
        "/api/v1/alerts/{alert_id}/unsilence",
        "unsilence_alert",
        "Lift an alert's silence",
        schemas.AlertsChanged,
        (ALERT_PATH,),
        changes_state=True,
    ),
    Endpoint(
        "POST",
        "/api/v1/stations/{station_id:path}/silence",
        "silence_station",
        "Silence a station's notifications for some minutes",
        schemas.AlertsChanged,
        (STATION_PATH,),
        body=schemas.SilenceRequest,
        changes_state=True,
    ),
    Endpoint(
        "POST",
        "/api/v1/stations/{station_id:path}/unsilence",
        "unsilence_station",
        "Lift a station's silence",
        schemas.AlertsChanged,
        (STATION_PATH,),
        changes_state=True,
    ),
    Endpoint(
        "GET",
        "/api/v1/thresholds",
        "thresholds",
        "Every tunable threshold",
        list[schemas.ThresholdDoc],
    ),
    Endpoint(
        "PUT",
        "/api/v1/thresholds",
        "put_threshold",
        "Change a threshold: applied at once, saved to the service's user config",
        schemas.ThresholdChanged,
        body=schemas.ThresholdUpdate,
        changes_state=True,
    ),
    Endpoint(
        "GET",
        "/api/v1/stats",
        "stats",
        "Count, min, mean, max, stddev per station and period (UTC hours or days)",
        schemas.Stats,
        (
            Param("station", "string", "a station id (default: all)"),
            Param("variable", "string", "a declared variable", True),
            Param("period", "string", "hour (default) or day"),
            SINCE,
            UNTIL,
        ),
    ),
    Endpoint(
        "GET",
        "/api/v1/console",
        "console",
        "Everything a console shows, in one call (for attached consoles; not a stable format)",
        dict,
        (Param("series", "string", "comma-separated station ids to include recent series of"),),
    ),
)


class ServiceApi:
    """The handlers, over one pipeline and a reader of its store (None: storage off)."""

    def __init__(
        self,
        pipeline: Pipeline,
        reader: StoreReader | None,
        loaded: LoadedSettings,
        access: Access,
        *,
        metrics: Any,
        role: str = "service",
        pid: int = 0,
    ) -> None:
        self.pipeline = pipeline
        self.reader = reader
        self.loaded = loaded
        self.access = access
        self.registry = metrics
        self.role = role
        self.pid = pid
        self.variables = {v.name: v for v in pipeline.settings.variables}

    # -- plumbing --------------------------------------------------------------------------

    def app(self) -> Starlette:
        routes = [
            Route(e.path, self._handler(e), methods=[e.method], name=e.handler) for e in ENDPOINTS
        ]
        return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})

    def _handler(self, endpoint: Endpoint) -> Callable:
        method = getattr(self, endpoint.handler)

        async def handle(request: Request) -> Response:
            if self.access.loopback and _host(request) not in LOOPBACK_NAMES:
                # A page of another site whose name was made to point here (DNS rebinding)
                # must not read what a local caller may.
                raise fail(400, "this service answers to its loopback address only")
            caller = self.access.caller(
                request.headers.get("authorization"), request.headers.get(USER_HEADER)
            )
            if endpoint.path.startswith("/api/v1/") and endpoint.handler != "openapi":
                refusal = self.access.refusal(caller, changes_state=endpoint.changes_state)
                if refusal:
                    raise fail(401, refusal)
            body = None
            if endpoint.body is not None:
                body = decode_body(await _body(request), endpoint.body)
            try:
                result = await run_in_threadpool(method, request, caller, body)
            except HTTPException:
                raise
            except Exception as exc:  # answered here: a re-raised error drops the connection
                return _internal_error(request, exc)
            return result if isinstance(result, Response) else JsonResponse(result)

        return handle

    def _number(self, request: Request, name: str, default: float | None = None) -> float | None:
        text = request.query_params.get(name)
        if text is None or text == "":
            return default
        try:
            value = float(text)
        except ValueError:
            raise fail(400, f"{name}: not a number: {text!r}") from None
        if not math.isfinite(value):
            raise fail(400, f"{name}: not a finite number")
        return value

    @overload
    def _time(self, request: Request, name: str, default: float) -> float: ...
    @overload
    def _time(self, request: Request, name: str, default: None) -> float | None: ...
    def _time(self, request: Request, name: str, default: float | None) -> float | None:
        text = request.query_params.get(name)
        if not text:
            return default
        try:
            return parse_instant(text)
        except ValueError as exc:
            raise fail(400, f"{name}: {exc}") from None

    def _variable(self, request: Request) -> str:
        variable = request.query_params.get("variable", "")
        if variable not in self.variables:
            raise fail(400, f"variable: one of {', '.join(self.variables)} (got {variable!r})")
        return variable

    def _store(self) -> StoreReader:
        if self.reader is None:
            raise fail(409, "storage is off in this service (storage.enabled = false)")
        return self.reader

    def _station(self, station_id: str) -> str:
        if self.pipeline.registry.station(station_id) is None:
            raise fail(404, f"no station {station_id!r}")
        return station_id

    def _read(self, what: Callable[[], Any]) -> Any:
        try:
            return what()
        except StoreError as exc:
            raise fail(503, str(exc)) from None

    # -- endpoints -------------------------------------------------------------------------

    def healthz(self, request: Request, caller: Caller, body: None) -> Response:
        problems = self.pipeline.problems()
        health = schemas.Health(
            status="failing" if problems else "ok",
            role=self.role,
            workers=[schemas.worker_doc(w) for w in self.pipeline.health_now()],
            problems=problems,
        )
        return JsonResponse(health, status_code=503 if problems else 200)

    def metrics(self, request: Request, caller: Caller, body: None) -> Response:
        return Response(exposition(self.registry), media_type=CONTENT_TYPE)

    def openapi(self, request: Request, caller: Caller, body: None) -> dict:
        return openapi_document()

    def stations(self, request: Request, caller: Caller, body: None) -> list:
        snap = self.pipeline.snapshot()
        names = [v.name for v in snap.variables]
        worst: dict[str, str] = {}
        counts: dict[str, int] = {}
        for alert in snap.alerts:
            if alert.is_open:
                counts[alert.station_id] = counts.get(alert.station_id, 0) + 1
                if alert.severity == "warning" or alert.station_id not in worst:
                    worst[alert.station_id] = alert.severity
        result = []
        for index, station in enumerate(snap.stations):
            latest = snap.latest_time[index] if index < len(snap.latest_time) else math.nan
            values = (
                snap.latest_values[index]
                if index < len(snap.latest_values)
                else [math.nan] * len(names)
            )
            silence = self.pipeline.analytics.alerts.station_silence(station.station_id)
            silenced = silence is not None and snap.now < silence.until
            state = worst.get(station.station_id, "ok" if not math.isnan(latest) else "no data")
            result.append(
                schemas.StationState(
                    id=station.station_id,
                    name=station.name,
                    latitude=schemas.number(station.latitude),
                    longitude=schemas.number(station.longitude),
                    elevation_m=schemas.number(station.elevation_m),
                    latest_at=None if math.isnan(latest) else iso_utc(latest),
                    latest={
                        n: schemas.number(float(v)) for n, v in zip(names, values, strict=True)
                    },
                    state=state,
                    open_alerts=counts.get(station.station_id, 0),
                    silenced_until=iso_utc(silence.until)
                    if silence is not None and silenced
                    else None,
                )
            )
        return result

    def series(self, request: Request, caller: Caller, body: None) -> schemas.Series:
        station_id = self._station(request.path_params["station_id"])
        variable = self._variable(request)
        now = self.pipeline.clock.now()
        since = self._time(request, "since", now - 86_400.0)
        until = self._time(request, "until", math.inf)
        step = self._number(request, "step", 0.0) or 0.0
        unit = self.variables[variable].unit
        reader = self._store()
        if step:
            if step < MINUTE_S or step % MINUTE_S:
                raise fail(400, "step: a whole number of minutes in seconds (60, 3600, 86400)")
            rows = self._read(lambda: reader.stats(variable, step, since, until, station_id))
            periods = [
                schemas.RolledPoint(
                    t=iso_utc(r.start) or "",
                    count=r.count,
                    min=r.minimum,
                    mean=r.mean,
                    max=r.maximum,
                )
                for r in rows
            ]
            return schemas.Series(
                station=station_id, variable=variable, unit=unit, step_s=step, periods=periods
            )
        before = math.nextafter(until, -math.inf)  # [since, until), as the roll-ups
        times, values = self._read(
            lambda: reader.series(station_id, variable, since, before, max_points=MAX_POINTS)
        )
        points = [
            schemas.Point(t=iso_utc(t) or "", value=v)
            for t, v in zip(times.tolist(), values.tolist(), strict=True)
        ]
        return schemas.Series(
            station=station_id, variable=variable, unit=unit, step_s=0.0, points=points
        )

    def anomalies(self, request: Request, caller: Caller, body: None) -> list:
        limit = self._number(request, "limit", 500.0)
        if limit is None or not 1 <= limit <= MAX_LIMIT or limit != int(limit):
            raise fail(400, f"limit: 1..{MAX_LIMIT}")
        variable = request.query_params.get("variable") or None
        if variable is not None and variable not in self.variables:
            raise fail(400, f"variable: one of {', '.join(self.variables)} (got {variable!r})")
        since = self._time(request, "since", None)
        min_score = self._number(request, "min_score", 0.0) or 0.0
        station = request.query_params.get("station") or None
        detector = request.query_params.get("detector") or None
        reader = self._store()
        found = self._read(
            lambda: reader.anomalies(
                since=since,
                limit=int(limit),
                station_id=station,
                variable=variable,
                detector=detector,
                min_score=min_score,
            )
        )
        return [schemas.anomaly_doc(a) for a in found]

    def alerts(self, request: Request, caller: Caller, body: None) -> list:
        state = request.query_params.get("state", "open")
        if state not in ALERT_STATES:
            raise fail(400, f"state: one of {', '.join(ALERT_STATES)}")
        alerts = self.pipeline.analytics.alerts.alerts()
        if state == "open":
            alerts = [a for a in alerts if a.is_open]
        elif state != "all":
            alerts = [a for a in alerts if a.state == state]
        return [schemas.alert_doc(a) for a in alerts]

    def _alert_id(self, request: Request) -> int:
        text = request.path_params["alert_id"]
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise fail(400, f"not an alert id: {text[:40]!r}")
        alert_id = int(text)
        known = {a.id: a for a in self.pipeline.analytics.alerts.alerts()}
        if alert_id not in known:
            raise fail(404, f"no alert {alert_id}")
        if not known[alert_id].is_open:
            raise fail(409, f"alert {alert_id} has cleared")
        return alert_id

    def _changed(self, changed: list, what: str, caller: Caller, request: Request):
        client = request.client.host if request.client else "?"
        log.info("api: %s by %s (%s) from %s", what, caller.recorded, caller.token, client)
        return schemas.AlertsChanged(changed=[schemas.alert_doc(a) for a in changed])

    def acknowledge(self, request: Request, caller: Caller, body: None):
        alert_id = self._alert_id(request)
        alert = self.pipeline.desk.acknowledge(alert_id, caller.recorded)
        if alert is None:
            raise fail(409, f"alert {alert_id} is already acknowledged")
        return self._changed([alert], f"alert {alert_id} acknowledged", caller, request)

    def _until(self, body: schemas.SilenceRequest) -> float:
        if not 0 < body.minutes <= 7 * 24 * 60:
            raise fail(422, "minutes: more than 0, at most a week (10080)")
        return self.pipeline.clock.now() + body.minutes * 60.0

    def silence_alert(self, request: Request, caller: Caller, body: schemas.SilenceRequest):
        alert_id = self._alert_id(request)
        changed = self.pipeline.desk.silence(
            caller.recorded, alert_id=alert_id, until=self._until(body)
        )
        return self._changed(changed, f"alert {alert_id} silenced", caller, request)

    def unsilence_alert(self, request: Request, caller: Caller, body: None):
        alert_id = self._alert_id(request)
        changed = self.pipeline.desk.unsilence(caller.recorded, alert_id=alert_id)
        return self._changed(changed, f"alert {alert_id} silence lifted", caller, request)

    def silence_station(self, request: Request, caller: Caller, body: schemas.SilenceRequest):
        station_id = self._station(request.path_params["station_id"])
        changed = self.pipeline.desk.silence(
            caller.recorded, station_id=station_id, until=self._until(body)
        )
        return self._changed(changed, f"station {station_id} silenced", caller, request)

    def unsilence_station(self, request: Request, caller: Caller, body: None):
        station_id = self._station(request.path_params["station_id"])
        changed = self.pipeline.desk.unsilence(caller.recorded, station_id=station_id)
        return self._changed(changed, f"station {station_id} silence lifted", caller, request)

    def _threshold_docs(self) -> list[schemas.ThresholdDoc]:
        return [
            schemas.threshold_doc(t, setting_key(t.key))
            for name in self.variables
            for t in self.pipeline.thresholds(name)
        ]

    def thresholds(self, request: Request, caller: Caller, body: None) -> list:
        return self._threshold_docs()

    def put_threshold(self, request: Request, caller: Caller, body: schemas.ThresholdUpdate):
        if body.variable not in self.variables:
            raise fail(422, f"variable: one of {', '.join(self.variables)}")
        current = next(
            (
                t
                for t in self.pipeline.thresholds(body.variable)
                if (t.detector, t.parameter) == (body.detector, body.parameter)
            ),
            None,
        )
        if current is None:
            raise fail(422, f"no threshold {body.detector}.{body.parameter} for {body.variable}")
        if not math.isfinite(body.value) or body.value <= 0:
            raise fail(422, "value: a number above zero")
        try:
            change = change_threshold(
                self.loaded, self.pipeline, list(self.variables), current, body.value
            )
        except ValueError as exc:
            raise fail(422, str(exc)) from None
        log.info("api: %s = %g by %s (%s)", change.key, body.value, caller.recorded, caller.token)
        return schemas.ThresholdChanged(
            setting=change.key,
            value=body.value,
            saved=change.saved,
            note=change.problem,
            thresholds=self._threshold_docs(),
        )

    def stats(self, request: Request, caller: Caller, body: None) -> schemas.Stats:
        variable = self._variable(request)
        period = request.query_params.get("period", "hour")
        if period not in ("hour", "day"):
            raise fail(400, "period: hour or day")
        station = request.query_params.get("station") or None
        if station is not None:
            self._station(station)
        now = self.pipeline.clock.now()
        since = self._time(request, "since", now - 86_400.0)
        until = self._time(request, "until", math.inf)
        reader = self._store()
        rows = self._read(lambda: reader.stats(variable, PERIODS[period], since, until, station))
        return schemas.Stats(period=period, rows=[schemas.stats_row(r) for r in rows])

    def console(self, request: Request, caller: Caller, body: None) -> Response:
        wanted = [s for s in request.query_params.get("series", "").split(",") if s][:50]
        tail_of = request.query_params.get("tail", "")
        points = int(min(max(self._number(request, "points", 0.0) or 0.0, 0.0), MAX_TAIL_POINTS))
        return Response(
            console_view(self.pipeline, wanted, self.pid, tail_of, points),
            media_type="application/json",
        )


def _host(request: Request) -> str:
    """The Host header's name, without the port (``[::1]:8765`` -> ``[::1]``)."""
    host = request.headers.get("host", "")
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.split(":", 1)[0] if host.count(":") <= 1 else host


async def _body(request: Request) -> bytes:
    """The request body, refused past :data:`MAX_BODY` (nothing here takes more)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise fail(413, f"request body over {MAX_BODY // 1024} KiB")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_body(raw: bytes, kind: type):
    try:
        return msgspec.json.decode(raw or b"{}", type=kind)
    except msgspec.ValidationError as exc:
        raise fail(422, f"bad request body: {exc}") from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise fail(400, f"request body is not JSON: {exc}") from None


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JsonResponse(schemas.Error(error=str(exc.detail)), status_code=exc.status_code)


def _internal_error(request: Request, exc: Exception) -> Response:
    path = printable(request.url.path, 200)
    log.error("api: %s %s failed", request.method, path, exc_info=exc)
    return JsonResponse(
        schemas.Error(error=f"internal error: {type(exc).__name__} (see the service log)"),
        status_code=500,
    )


def _schema_of(kind: type) -> dict:
    if kind is str:
        return {"type": "string"}
    if kind is dict:
        return {"type": "object"}
    (schema,), _ = msgspec.json.schema_components([kind], ref_template=REF)
    return schema


def openapi_document() -> dict:
    """OpenAPI 3.1 for :data:`ENDPOINTS`, the schemas from the msgspec structs."""
    _, components = msgspec.json.schema_components(schemas.DOCUMENTS, ref_template=REF)
    paths: dict[str, dict] = {}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for e in ENDPOINTS:
        media = "text/plain" if e.response is str else "application/json"
        operation: dict[str, Any] = {
            "operationId": e.handler,
            "summary": e.summary,
            "parameters": [
                {
                    "name": p.name,
                    "in": p.where,
                    "required": p.required,
                    "description": p.doc,
                    "schema": {"type": p.kind},
                }
                for p in e.params
            ],
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {media: {"schema": _schema_of(e.response)}},
                },
                "4XX": {"description": "A bad request, or refused", "content": error},
            },
        }
        if e.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema_of(e.body)}},
            }
        if e.changes_state:
            operation["security"] = [{"bearer": []}]
        paths.setdefault(e.path, {})[e.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "mass-tui service", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
