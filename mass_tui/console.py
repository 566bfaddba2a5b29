"""``mass-tui``: start the console on the configured pipeline."""

from __future__ import annotations

import logging

from mass_tui.app import MassApp
from mass_tui.assemble import build_pipeline, build_watcher, open_store
from mass_tui.config import LoadedSettings
from pipeline.runtime import Pipeline
from pipeline.store import Store, StoreError, StoreInUse

log = logging.getLogger(__name__)


def run_console(loaded: LoadedSettings, *, watch: bool = False) -> int:
    """A store that cannot be opened does not stop the console: it runs without one and says
    so (the pipeline still analyses; nothing is kept). A store another process runs a pipeline
    on does (StoreInUse, exit 2): a second pipeline would notify people twice. A watching
    console has no store: the workers keep the data."""
    if watch:
        return _run(loaded, build_watcher(loaded), None)
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
    loaded: LoadedSettings, pipeline: Pipeline, store: Store | None, problem: str | None = None
) -> int:
    reader = store.reader() if store is not None else None
    app = MassApp(loaded, pipeline, reader=reader)
    if problem:
        app.call_later(app.notify, problem, severity="error", timeout=15)
    try:
        app.run()
    finally:
        pipeline.stop()
        if reader is not None:
            reader.close()
    return 0
