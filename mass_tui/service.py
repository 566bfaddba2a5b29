"""``mass-tui service``: the pipeline that runs day and night, with notifications, and the
HTTP API consoles attach to.

It holds the data directory (a second service on it exits 2 naming the first), serves
``/healthz``, ``/metrics`` and ``/api/v1`` (see :mod:`mass_tui.http.api`), stops cleanly on
SIGTERM or SIGINT (everything flushed, exit 0) and reloads thresholds from the settings on
SIGHUP. Under systemd (``Type=notify``) it says when it is ready and when it stops.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Callable

from mass_tui.assemble import build_pipeline, open_store
from mass_tui.headless import PipelineWatch, summary
from mass_tui.http.access import TOKEN_VARIABLE, Access, AccessError, parse_address
from mass_tui.http.api import ServiceApi
from mass_tui.http.metrics import PipelineCollector, registry_of
from mass_tui.http.serve import serving
from mass_tui.run_loop import StopRequest, run_until_stopped, signals_caught
from mass_tui.service_file import ServiceInfo, ServiceRegistration
from mass_tui.settings_layers import ConfigError, LoadedSettings
from mass_tui.threshold_changes import reload_thresholds

log = logging.getLogger(__name__)
NAME = "mass-tui service"


def _say(text: str) -> None:
    print(f"{NAME}: {text}", file=sys.stderr, flush=True)


def notify_systemd(state: str) -> None:
    """sd_notify(3): one datagram to ``$NOTIFY_SOCKET`` when systemd started us with
    ``Type=notify``; nothing otherwise (the protocol is this one line)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("cannot tell systemd %r: %s", state, exc)


def run_service(
    loaded: LoadedSettings,
    *,
    duration: float | None,
    http: str | None,
    reload: Callable[[], LoadedSettings],
) -> int:
    address = http or loaded.settings.service.http
    try:
        host, _ = parse_address(address)
        access = Access.for_address(host, os.environ.get(TOKEN_VARIABLE))
    except (ValueError, AccessError) as exc:
        raise ConfigError(f"config error: service.http {address!r}: {exc}") from None
    registration = ServiceRegistration.take(loaded.data_dir)
    try:
        return _serve(loaded, access, address, registration, duration, reload)
    finally:
        registration.withdraw()


def _serve(
    loaded: LoadedSettings,
    access: Access,
    address: str,
    registration: ServiceRegistration,
    duration: float | None,
    reload: Callable[[], LoadedSettings],
) -> int:
    store = open_store(loaded)
    pipeline = build_pipeline(loaded, store=store)
    reader = store.reader() if store is not None else None
    api = ServiceApi(
        pipeline,
        reader,
        loaded,
        access,
        metrics=registry_of(PipelineCollector(pipeline)),
        pid=os.getpid(),
    )

    def reload_settings() -> None:
        try:
            changed = reload_thresholds(reload(), pipeline)
        except (ConfigError, ValueError) as exc:
            log.error("SIGHUP: settings not reloaded: %s", exc)
            _say(f"settings not reloaded: {exc}")
            return
        text = ", ".join(changed) if changed else "no threshold changed"
        log.info("SIGHUP: thresholds reloaded: %s", text)
        _say(f"thresholds reloaded: {text}")

    started = time.monotonic()
    watch = PipelineWatch(pipeline, NAME)
    request = StopRequest()
    try:
        # Caught from before the service is announced: a SIGHUP at once must not kill it.
        with signals_caught(request, reload=True), serving(api.app(), address) as server:
            assert server is not None
            registration.publish(ServiceInfo(os.getpid(), server.url, access.local_token))
            pipeline.start()
            _say(f"serving {server.url}; data {loaded.data_dir}; pid {os.getpid()}")
            notify_systemd("READY=1")
            run_until_stopped(
                lambda: watch.step() or True,
                interval=0.5,
                duration=duration,
                on_reload=reload_settings,
                request=request,
            )
            notify_systemd("STOPPING=1")
            if request.signal:
                log.info("stopping on %s", request.signal)
    finally:
        pipeline.stop()
        if reader is not None:
            reader.close()
    text, sound = summary(pipeline, time.monotonic() - started, NAME)
    log.info("%s", text)
    print(text, file=sys.stderr)
    return 0 if sound else 1
