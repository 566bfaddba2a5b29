"""``mass-tui``: start the console on the configured pipeline."""

from __future__ import annotations

import logging
import os

from mass_tui.app import MassApp
from mass_tui.assemble import build_pipeline, build_watcher, open_store
from mass_tui.attached import AttachedPipeline, ServiceReader, ServiceUnreachable, attach
from mass_tui.http.access import TOKEN_VARIABLE
from mass_tui.service_file import data_dir_held, running_service
from mass_tui.settings_layers import ConfigError, LoadedSettings, pipeline_settings
from pipeline.runtime import Pipeline
from pipeline.store import Store, StoreError, StoreInUse

log = logging.getLogger(__name__)


def run_console(
    loaded: LoadedSettings, *, watch: bool = False, attach_url: str | None = None
) -> int:
    """Attached to the service of ``attach_url``, or to the one running on the data directory;
    else embedded. A store that cannot be opened does not stop an embedded console: it runs
    without one and says so (the pipeline still analyses; nothing is kept). A store another
    process runs a pipeline on does (StoreInUse, exit 2): a second pipeline would notify people
    twice. A watching console has no store: the workers keep the data."""
    if watch:
        return _run(loaded, build_watcher(loaded), None)
    service = running_service(loaded.data_dir) if attach_url is None else None
    url = attach_url if attach_url is not None else service.url if service is not None else None
    if url is not None:
        token = os.environ.get(TOKEN_VARIABLE) if service is None else service.token

        def locate() -> tuple[str, str | None] | None:  # the service restarted
            again = running_service(loaded.data_dir)
            return (again.url, again.token) if again is not None else None

        try:
            attached = attach(
                url, token, pipeline_settings(loaded, []), locate if service is not None else None
            )
        except ServiceUnreachable as exc:
            raise ConfigError(str(exc)) from None
        return _run(loaded, attached, ServiceReader(attached.client))
    with data_dir_held(loaded.data_dir):
        return _run_embedded(loaded)


def _run_embedded(loaded: LoadedSettings) -> int:
    problem = None
    try:
        store = open_store(loaded)
    except StoreInUse:
        raise
    except StoreError as exc:
        log.error("running without storage: %s", exc)
        store, problem = None, f"running without storage: {exc}"
    pipeline = build_pipeline(loaded, store=store)
    return _run(loaded, pipeline, store, problem)


def _run(
    loaded: LoadedSettings,
    pipeline: Pipeline | AttachedPipeline,
    store: Store | ServiceReader | None,
    problem: str | None = None,
) -> int:
    reader = store.reader() if isinstance(store, Store) else store
    app = MassApp(loaded, pipeline, reader=reader)
    if problem:
        app.call_later(app.notify, problem, severity="error", timeout=15)
    try:
        app.run()
    finally:
        pipeline.stop()
        if reader is not None:
            reader.close()
    return app.return_code or 0
