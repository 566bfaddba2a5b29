"""``mass-tui``: start the console on the configured pipeline."""

from __future__ import annotations

import logging

from mass_tui.app import MassApp
from mass_tui.assemble import build_pipeline, open_store
from mass_tui.config import LoadedSettings
from pipeline.store import StoreError

log = logging.getLogger(__name__)


def run_console(loaded: LoadedSettings) -> int:
    """A store that cannot be opened does not stop the console: it runs without one and says
    so (the pipeline still analyses; nothing is kept)."""
    problem = None
    try:
        store = open_store(loaded)
    except StoreError as exc:
        log.error("running without storage: %s", exc)
        store, problem = None, f"running without storage: {exc}"
    pipeline = build_pipeline(loaded, store=store)
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
