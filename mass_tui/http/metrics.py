"""``/metrics``: the pipeline's counters in the Prometheus text format.

A custom collector reads the pipeline's own counters at scrape time rather than keeping a
second set of Prometheus counters in step with them: what ``/metrics`` says and what the exit
summary says cannot disagree.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from pipeline.anomaly import Anomaly
from pipeline.kafka.publisher import ObservationPublisher
from pipeline.runtime import Pipeline
from pipeline.sources import Source

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SEVERITIES = ("advisory", "warning")


@dataclass
class DetectorTally:
    """Anomaly events by detector since start (an anomaly listener: consumer thread). A new
    peak of a burst already told (``event_start`` set) is not another event: counted as the
    console's "since start" and the exit summary count them."""

    counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, anomaly: Anomaly) -> None:
        if anomaly.event_start is not None:
            return
        with self._lock:
            self.counts[anomaly.detector] = self.counts.get(anomaly.detector, 0) + 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"mass_tui_{name}", doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"mass_tui_{name}", doc, value=value)


class PipelineCollector(Collector):
    """The metrics of a process running the analytics (``service``, ``headless``, ``worker``)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.detectors = DetectorTally()
        pipeline.subscribe(anomalies=self.detectors)

    def collect(self) -> Iterator[Metric]:
        pipeline, analytics = self.pipeline, self.pipeline.analytics
        c = analytics.counters
        yield _counter("observations_received", "Messages and observations received", c.received)
        yield _counter("observations_accepted", "Observations analysed", c.accepted)
        yield _counter("observations_stored", "Observations written to the store", c.stored)
        yield _counter("observations_duplicate", "Duplicate observations dropped", c.duplicates)
        yield _counter("observations_late", "Late observations stored, not analysed", c.late)
        yield _counter("observations_lost", "Observations processed, never stored", c.lost)
        yield _gauge("observations_waiting", "Observations waiting for the store", c.waiting)
        yield _counter("store_write_failures", "Store writes that failed", c.store_failures)
        anomalies = CounterMetricFamily(
            "mass_tui_anomalies", "Anomaly events found, by detector", labels=["detector"]
        )
        for detector, n in sorted(self.detectors.snapshot().items()):
            anomalies.add_metric([detector], n)
        yield anomalies
        rejected = CounterMetricFamily(
            "mass_tui_rejections",
            "Messages and readings rejected (quarantined), by kind of reason",
            labels=["reason"],
        )
        for reason, n in sorted(analytics.rejection_kinds.counts().items()):
            rejected.add_metric([reason], n)
        yield rejected
        open_alerts = GaugeMetricFamily(
            "mass_tui_alerts_open", "Open alerts, by severity", labels=["severity"]
        )
        alerts = [a for a in analytics.alerts.alerts() if a.is_open]
        for severity in SEVERITIES:
            open_alerts.add_metric([severity], sum(a.severity == severity for a in alerts))
        yield open_alerts
        buckets, count, total = analytics.store_latency.cumulative()
        yield HistogramMetricFamily(
            "mass_tui_store_write_seconds",
            "Time to write one batch to the store",
            buckets=[(str(b), n) for b, n in buckets] + [("+Inf", count)],
            sum_value=total,
        )
        depth_doc = "Observations on the bus not yet processed (Kafka: the consumer lag)"
        yield _gauge("bus_depth", depth_doc, pipeline.bus.depth())
        notifications = pipeline.notifications
        if notifications is not None:
            yield from _notification_metrics(notifications)
        healthy = not pipeline.problems()
        yield _gauge("healthy", "1 while every worker is healthy", 1.0 if healthy else 0.0)


def _notification_metrics(notifications) -> Iterator[Metric]:
    try:
        waiting = notifications.outbox.waiting()
    except Exception:  # the outbox file failing: said by /healthz, not fatal to a scrape
        waiting = float("nan")
    yield _gauge("notifications_waiting", "Notifications in the outbox, not delivered", waiting)
    delivered = CounterMetricFamily(
        "mass_tui_notifications_delivered", "Notifications delivered", labels=["channel"]
    )
    failed = CounterMetricFamily(
        "mass_tui_notification_failures",
        "Notification delivery attempts that failed",
        labels=["channel"],
    )
    for name, health in sorted(notifications.dispatcher.health.items()):
        delivered.add_metric([name], health.delivered)
        failed.add_metric([name], health.failures + health.refused)
    yield delivered
    yield failed


class ProducerCollector(Collector):
    """The metrics of ``produce``: what the source gave and the broker took."""

    def __init__(self, publisher: ObservationPublisher, source: Source) -> None:
        self.publisher = publisher
        self.source = source

    def collect(self) -> Iterator[Metric]:
        publisher = self.publisher
        yield _counter("produced_delivered", "Observations the broker took", publisher.delivered)
        yield _counter("produced_refused", "Observations the broker refused", publisher.refused)
        yield _counter("produced_resent", "Observations sent again", publisher.resent)
        yield _gauge(
            "spool_undelivered", "Observations spooled, not delivered", publisher.undelivered()
        )
        healthy = not publisher.problem and self.source.state() in ("ok", "waiting")
        yield _gauge("healthy", "1 while the broker and the source are healthy", float(healthy))


def registry_of(collector: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
