"""``mass-tui produce``: run a source and publish its observations to the broker.

Observations are accepted into the durable spool first and sent from there, so a broker
outage or a restart of this process loses nothing (see :mod:`pipeline.kafka.publisher`).
What the source could not turn into observations goes to the dead-letter topic with the
reason. State changes go to stderr, a summary at exit.
"""

from __future__ import annotations

import os
import sys
import time

from mass_tui.assemble import build_source, open_publisher
from mass_tui.http.serve import serving_metrics
from mass_tui.run_loop import run_until_stopped
from mass_tui.settings_layers import ConfigError, LoadedSettings
from mass_tui.state_changes import StateTeller
from pipeline.clock import ObservedClock, SystemClock
from pipeline.kafka.publisher import ObservationPublisher
from pipeline.kafka.spool import SpoolError
from pipeline.sources import Source
from pipeline.sources.observed import ObservedTimeSource


def _say(text: str) -> None:
    print(f"mass-tui produce: {text}", file=sys.stderr, flush=True)


class ProducerLoop:
    """Poll the source at its interval; hand each batch to the publisher."""

    def __init__(self, source: Source, publisher: ObservationPublisher) -> None:
        self.source = source
        self.publisher = publisher
        self.accepted = 0
        self.dead_lettered = 0
        self.tell = StateTeller("mass-tui produce")

    def step(self) -> bool:
        """One poll of the source, handed to the publisher (the run loop's step)."""
        try:
            batch = self.source.poll()
            if batch:
                self.publisher.publish(batch)
                self.accepted += len(batch)
            rejected = self.source.drain_rejections()
            if rejected:
                self.publisher.dead_letter(
                    [((r.station_id or "").encode(), r.payload.encode()) for r in rejected],
                    "; ".join(sorted({r.reason for r in rejected}))[:1000],
                )
                self.dead_lettered += len(rejected)
        except SpoolError as exc:  # a full disk: say so, keep polling, try again
            _say(f"cannot spool: {exc}")
        self._tell()
        return True

    def _tell(self) -> None:
        """Say on stderr when the broker or the source changes state."""
        state = f"broker {self.publisher.watch.state()}; source {self.source.state()}"
        if self.publisher.problem and self.publisher.problem not in state:
            state += f"; {self.publisher.problem}"
        self.tell(state)


def run_produce(loaded: LoadedSettings, *, duration: float | None, http: str | None = None) -> int:
    try:
        source, clock, _ = build_source(loaded, None, SystemClock(), os.environ)
    except ValueError as exc:
        raise ConfigError(f"config error: source {loaded.settings.source.kind}: {exc}") from None
    if isinstance(clock, ObservedClock):  # a replay: messages are stamped with its time
        source = ObservedTimeSource(source, clock, loaded.settings.validation.max_future_s)
    publisher = open_publisher(loaded, os.environ, clock)
    loop = ProducerLoop(source, publisher)
    started = time.monotonic()
    _say(
        f"{source.name} -> {loaded.settings.kafka.bootstrap_servers} "
        f"topic {loaded.settings.kafka.topic}; spool {publisher.spool.path}"
    )
    try:
        with serving_metrics(http, None, "produce", publisher=publisher, source=source):
            run_until_stopped(loop.step, interval=lambda: source.poll_interval_s, duration=duration)
    finally:
        source.close()
        publisher.stop()
    left = publisher.left
    summary = (
        f"{loop.accepted} observations accepted, {publisher.delivered} delivered"
        f" in {time.monotonic() - started:.1f} s"
    )
    if loop.dead_lettered:
        summary += f", {loop.dead_lettered} source rejections dead-lettered"
    if publisher.resent:
        summary += f", {publisher.resent} re-sent after the broker lost them"
    if left:
        summary += f"; {left} still spooled (sent at the next start)"
    _say(summary)
    return 0
