"""``/healthz`` and ``/metrics`` alone, for ``worker --http`` and ``produce --http``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mass_tui.http.metrics import (
    CONTENT_TYPE,
    PipelineCollector,
    ProducerCollector,
    exposition,
    registry_of,
)


def probe_app(role: str, *, pipeline=None, publisher=None, source=None) -> Starlette:
    if pipeline is not None:
        registry = registry_of(PipelineCollector(pipeline))

        def problems() -> list[str]:
            return pipeline.problems()
    else:
        registry = registry_of(ProducerCollector(publisher, source))

        def problems() -> list[str]:
            found = [f"broker: {publisher.problem}"] if publisher.problem else []
            state = source.state()
            if state not in ("ok", "waiting"):
                found.append(f"source {source.name}: {state}")
            return found

    def healthz(request: Request) -> Response:
        found = problems()
        body = {"status": "failing" if found else "ok", "role": role, "problems": found}
        return JSONResponse(body, status_code=503 if found else 200)

    def metrics(request: Request) -> Response:
        return Response(exposition(registry), media_type=CONTENT_TYPE)

    return Starlette(routes=[Route("/healthz", healthz), Route("/metrics", metrics)])
