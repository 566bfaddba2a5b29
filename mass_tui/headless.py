"""``mass-tui headless``: the pipeline with no UI. Anomalies and alert transitions go to stdout
as JSON lines, a summary to stderr at exit; Ctrl-C stops it with everything flushed."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import asdict

import msgspec

from mass_tui.assemble import build_pipeline, open_store
from mass_tui.run_loop import run_until_stopped
from mass_tui.service_file import data_dir_held
from mass_tui.settings_layers import LoadedSettings
from mass_tui.state_changes import ProblemTeller
from pipeline.alerts import Alert
from pipeline.anomaly import Anomaly
from pipeline.runtime import Pipeline
from pipeline.times import iso_utc

_encoder = msgspec.json.Encoder()


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


def _report_source(pipeline: Pipeline, told: str, name: str) -> str:
    """Say on stderr when the source's state changes (a failing API, a finished replay); the
    details are in the log. Returns the state now told."""
    if pipeline.source is None:
        return told
    state = pipeline.source.state()
    # Retry countdowns change every second: compare the kind of state, not the number.
    kind = state.split(" ", 2)[:2]
    if kind != told.split(" ", 2)[:2] and state not in ("ok", "waiting"):
        print(f"{name}: source {pipeline.source.name}: {state}", file=sys.stderr)
    return state


def summary(pipeline: Pipeline, elapsed: float, name: str) -> tuple[str, bool]:
    """The exit summary, and whether the run was sound: nothing lost, the store sound.

    Every observation received is accounted for: stored, a duplicate, rejected (kept in the
    quarantine with its reason), waiting (a broker delivers it again) or lost."""
    c = pipeline.analytics.counters
    parts = [
        f"{c.stored:,} observations stored",
        f"{c.duplicates:,} duplicates",
        f"{c.rejected_messages:,} messages and {c.rejected_readings:,} readings rejected "
        "(quarantined)",
        f"{c.waiting:,} waiting",
        f"{c.lost:,} lost",
    ]
    text = (
        # Events, not rows: an event's later, stronger readings are rows (lines) of their own.
        f"{name}: {', '.join(parts)}; {c.anomalies:,} anomaly events; "
        f"{c.accepted:,} analysed in {elapsed:.1f} s "
        f"({c.accepted / elapsed if elapsed else 0:,.0f} obs/s)"
    )
    state = pipeline.source.state() if pipeline.source else "ok"
    if pipeline.source and state not in ("ok", "waiting"):  # no source: "ok"
        text += f"; source {pipeline.source.name}: {state}"
    cut_short = pipeline.source.cut_short if pipeline.source else None
    sound = c.lost == 0 and not pipeline.analytics.store_error and cut_short is None
    if pipeline.analytics.store_error:
        text += f"; store failing: {pipeline.analytics.store_error}"
    if c.lost:
        text += f"; LOST {c.lost:,} observations that could not be stored"
    return text, sound


def run_headless(loaded: LoadedSettings, *, duration: float | None) -> int:
    """Runs until the duration is up, Ctrl-C or SIGTERM, or a replay has been played to the
    end (and all of it stored). Exit status 1 if anything was lost."""
    with data_dir_held(loaded.data_dir):
        return _run_headless(loaded, duration)


def _run_headless(loaded: LoadedSettings, duration: float | None) -> int:
    store = open_store(loaded)
    pipeline = build_pipeline(loaded, store=store)
    writer = LineWriter()
    pipeline.subscribe(anomalies=writer.anomaly, alerts=writer.alert)
    started = time.monotonic()
    watch = PipelineWatch(pipeline, "mass-tui headless")
    pipeline.start()
    try:
        run_until_stopped(
            lambda: watch.step() and not writer.broken.is_set(), interval=0.2, duration=duration
        )
    finally:
        pipeline.stop()
    text, sound = summary(pipeline, time.monotonic() - started, "mass-tui headless")
    print(text, file=sys.stderr)
    return 0 if sound else 1


class PipelineWatch:
    """The step of a command running a pipeline: say on stderr when the source or the
    pipeline's health changes; False once a finite source is played and stored."""

    def __init__(self, pipeline: Pipeline, name: str) -> None:
        self.pipeline = pipeline
        self.name = name
        self._told = "ok"
        self._tell_problems = ProblemTeller(name)

    def step(self) -> bool:
        self._told = _report_source(self.pipeline, self._told, self.name)
        self._tell_problems(self.pipeline.problems())
        return not self.pipeline.finished()
