"""``mass-tui worker``: a consumer-group member doing the analytics for its partitions.

Decodes, validates, detects, stores (its own SQLite store in the data directory) and publishes
each anomaly and alert change to the anomalies topic; offsets are committed after that (see
:mod:`pipeline.kafka.bus`). State changes, and people's acknowledgements and silences (sent
from watching consoles), go to stderr; a summary at exit.
"""

from __future__ import annotations

import sys
import time

from mass_tui.assemble import build_worker, open_store
from mass_tui.http.serve import serving_metrics
from mass_tui.run_loop import run_until_stopped
from mass_tui.service_file import data_dir_held
from mass_tui.settings_layers import LoadedSettings
from mass_tui.state_changes import ProblemTeller, StateTeller
from pipeline.alerts import Alert
from pipeline.times import iso_utc


def _say(text: str) -> None:
    print(f"mass-tui worker: {text}", file=sys.stderr, flush=True)


def _tell_people_s_changes(alert: Alert) -> None:
    """Acknowledgements and silences come from people (at watching consoles): say who."""
    if alert.last_transition == "acknowledged":
        who = f"acknowledged by {alert.acknowledged_by}"
    elif alert.last_transition == "silenced":
        who = f"silenced by {alert.silenced_by} until {iso_utc(round(alert.silenced_until or 0))}"
    elif alert.last_transition == "unsilenced":
        who = f"silence lifted by {alert.silenced_by}"
    else:
        return
    _say(f"alert {alert.id} {alert.station_id} {alert.rule} {alert.variable} {who}")


def run_worker(loaded: LoadedSettings, *, duration: float | None, http: str | None = None) -> int:
    with data_dir_held(loaded.data_dir):
        return _run_worker(loaded, duration, http)


def _run_worker(loaded: LoadedSettings, duration: float | None, http: str | None) -> int:
    store = open_store(loaded)
    pipeline, bus = build_worker(loaded, store=store)
    pipeline.subscribe(alerts=_tell_people_s_changes)
    started = time.monotonic()
    _say(
        f"group {loaded.settings.kafka.group_id} on {loaded.settings.kafka.bootstrap_servers}"
        f" topic {loaded.settings.kafka.topic}; store {loaded.database_path}"
    )
    pipeline.start()
    tell = StateTeller("mass-tui worker")
    tell_problems = ProblemTeller("mass-tui worker")

    def step() -> bool:
        tell(bus.state() + (f"; {bus.problem()}" if bus.problem() else ""))
        tell_problems([p for p in pipeline.problems() if not p.startswith("bus ")])
        return True

    try:
        with serving_metrics(http, pipeline, "worker", bus=bus):
            run_until_stopped(step, interval=0.5, duration=duration)
    finally:
        pipeline.stop()
    c = pipeline.analytics.counters
    _say(
        f"{c.accepted} observations processed, {c.anomalies} anomalies, {c.duplicates}"
        f" duplicates, {c.rejected_messages} messages rejected ({bus.dead_lettered}"
        f" dead-lettered), {c.stored} stored, {bus.events_published} events published,"
        f" {bus.commands_read} commands read ({bus.commands_unreadable} unreadable)"
        f" in {time.monotonic() - started:.1f} s"
        + (f"; {c.waiting} not stored, left on the broker" if c.waiting else "")
        + (
            f"; store failing: {pipeline.analytics.store_error}"
            if pipeline.analytics.store_error
            else ""
        )
    )
    return 1 if pipeline.analytics.store_error else 0
