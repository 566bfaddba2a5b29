"""Serving an ASGI app with uvicorn from a thread beside the pipeline's, started and stopped
with the command: a port that cannot be bound is a one-line error at start, not a thread dying
later."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from mass_tui.settings_layers import ConfigError

log = logging.getLogger(__name__)
START_TIMEOUT_S = 10.0


class HttpServer:
    def __init__(self, app, host: str, port: int) -> None:
        self.host = host
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,  # our logging: the log file (and stderr with --log-stderr)
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve())
        except BaseException as exc:  # SystemExit from uvicorn when the port is taken
            self._error = exc

    def start(self) -> None:
        """Start serving; raises ConfigError when the address cannot be served."""
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._server.should_exit = True
                raise ConfigError(
                    f"cannot serve HTTP on {self.host}:{self._server.config.port}: the address is"
                    " in use or not this machine's (see the log)"
                )
            time.sleep(0.02)

    @property
    def port(self) -> int:
        """The port bound (the one asked for, or the one chosen for port 0)."""
        for server in self._server.servers:
            for sock in server.sockets:
                return sock.getsockname()[1]
        return self._server.config.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(5.0)


@contextmanager
def serving(app, address: str | None) -> Iterator[HttpServer | None]:
    """Serve ``app`` on ``address`` (``HOST:PORT``) while inside; nothing when None."""
    if not address:
        yield None
        return
    from mass_tui.http.access import parse_address

    try:
        host, port = parse_address(address)
    except ValueError as exc:
        raise ConfigError(f"config error: --http: {exc}") from None
    server = HttpServer(app, host, port)
    server.start()
    log.info("serving HTTP on %s", server.url)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def serving_metrics(
    address: str | None, pipeline, role: str, *, bus=None, publisher=None, source=None
) -> Iterator[None]:
    """``/healthz`` and ``/metrics`` of a ``worker`` (a pipeline) or ``produce`` (a publisher
    and its source), on ``address`` while inside."""
    if not address:
        yield
        return
    from mass_tui.http.probes import probe_app

    with serving(probe_app(role, pipeline=pipeline, publisher=publisher, source=source), address):
        yield
