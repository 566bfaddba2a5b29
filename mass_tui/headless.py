"""``mass-tui headless``: the pipeline with no UI. Anomalies and alert transitions go to stdout
as JSON lines, a summary to stderr at exit; Ctrl-C stops it with everything flushed."""

from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime

import msgspec

from mass_tui.assemble import build_pipeline, open_store
from mass_tui.config import LoadedSettings
from pipeline.alerts import Alert
from pipeline.anomaly import Anomaly
from pipeline.runtime import Pipeline

_encoder = msgspec.json.Encoder()


def iso_utc(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def anomaly_line(anomaly: Anomaly) -> bytes:
    """One anomaly as a JSON line, with ``observed_at`` as ISO 8601 UTC."""
    fields = msgspec.structs.asdict(anomaly)
    fields["observed_at"] = iso_utc(anomaly.observed_at)
    return _encoder.encode(fields) + b"\n"


TIMES = (
    "opened_at",
    "updated_at",
    "cleared_at",
    "acknowledged_at",
    "silenced_until",
    "silenced_at",
)


def alert_line(alert: Alert) -> bytes:
    """An alert transition: ``{"transition": "opened", "alert": {...}}`` (times ISO 8601)."""
    fields = asdict(alert)
    fields.update({name: iso_utc(fields[name]) for name in TIMES})
    return _encoder.encode({"transition": alert.last_transition, "alert": fields}) + b"\n"


class LineWriter:
    """Writes lines to stdout; stops quietly if the reader goes away (``| head``)."""

    def __init__(self) -> None:
        self.broken = threading.Event()
        self._lock = threading.Lock()

    def anomaly(self, anomaly: Anomaly) -> None:
        self._write(anomaly_line(anomaly))

    def alert(self, alert: Alert) -> None:
        self._write(alert_line(alert))

    def _write(self, line: bytes) -> None:
        if self.broken.is_set():
            return
        try:
            with self._lock:
                sys.stdout.buffer.write(line)
                sys.stdout.buffer.flush()
        except (BrokenPipeError, ValueError):
            self.broken.set()


def _report_source(pipeline: Pipeline, told: str) -> str:
    """Say on stderr when the source's state changes (a failing API, a finished replay); the
    details are in the log. Returns the state now told."""
    if pipeline.source is None:
        return told
    state = pipeline.source.state()
    # Retry countdowns change every second: compare the kind of state, not the number.
    kind = state.split(" ", 2)[:2]
    if kind != told.split(" ", 2)[:2] and state not in ("ok", "waiting"):
        print(f"mass-tui headless: source {pipeline.source.name}: {state}", file=sys.stderr)
    return state


def run_headless(loaded: LoadedSettings, *, duration: float | None) -> int:
    store = open_store(loaded)
    pipeline = build_pipeline(loaded, store=store)
    writer = LineWriter()
    pipeline.subscribe(anomalies=writer.anomaly, alerts=writer.alert)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started = time.monotonic()
    pipeline.start()
    try:
        deadline = None if duration is None else started + duration
        told = "ok"
        while not stop.is_set() and not writer.broken.is_set():
            told = _report_source(pipeline, told)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            stop.wait(0.2 if remaining is None else min(0.2, remaining))
    except KeyboardInterrupt:
        pass
    finally:
        pipeline.stop()
    elapsed = time.monotonic() - started
    c = pipeline.analytics.counters
    summary = (
        f"mass-tui headless: {c.accepted} observations, {c.anomalies} anomalies, "
        f"{c.rejected_messages} messages and {c.rejected_readings} readings rejected, "
        f"{c.duplicates} duplicates, {c.stored} stored in {elapsed:.1f} s "
        f"({c.accepted / elapsed if elapsed else 0:.0f} obs/s)"
    )
    state = pipeline.source.state() if pipeline.source else "ok"
    if state not in ("ok", "waiting"):
        summary += f"; source {pipeline.source.name}: {state}"
    if pipeline.analytics.store_error:
        summary += f"; store failing: {pipeline.analytics.store_error}"
    print(summary, file=sys.stderr)
    return 0
