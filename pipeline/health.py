"""Counters, rates and the health of each worker: what the console's header shows."""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace

from pipeline.clock import Clock, MonotonicClock


@dataclass(slots=True)
class Counters:
    """Totals since start. ``rejected_*`` and ``late`` are kept in the quarantine or store."""

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    rejected_messages: int = 0
    rejected_readings: int = 0
    anomalies: int = 0
    stored: int = 0
    store_failures: int = 0  # store writes that failed (each is retried; see ``waiting``)
    waiting: int = 0  # observations processed but not yet stored (the store is failing)
    lost: int = 0  # observations processed and never stored (given up at exit)


@dataclass(slots=True)
class WorkerHealth:
    name: str
    state: str = "starting"  # starting | running | stalled | failed | stopped
    detail: str = ""
    last_beat: float = field(default_factory=time.monotonic)


class HealthBoard:
    """Workers report beats and failures here; a worker silent for too long shows as stalled."""

    def __init__(self, stall_after_s: float = 10.0) -> None:
        self._workers: dict[str, WorkerHealth] = {}
        self._lock = threading.Lock()
        self.stall_after_s = stall_after_s

    def beat(self, name: str, detail: str = "") -> None:
        with self._lock:
            worker = self._workers.setdefault(name, WorkerHealth(name))
            worker.state, worker.detail, worker.last_beat = "running", detail, time.monotonic()

    def report(self, name: str, state: str, detail: str) -> None:
        with self._lock:
            worker = self._workers.setdefault(name, WorkerHealth(name))
            worker.state, worker.detail, worker.last_beat = state, detail, time.monotonic()

    def snapshot(self) -> list[WorkerHealth]:
        now = time.monotonic()
        with self._lock:
            workers = [replace(w) for w in self._workers.values()]
        for worker in workers:
            if worker.state == "running" and now - worker.last_beat > self.stall_after_s:
                worker.state = "stalled"
                worker.detail = f"no progress for {now - worker.last_beat:.0f} s"
        return workers


class IntakeMeter:
    """The share of recent messages rejected: a pipeline that quarantines most of what it
    receives is failing, however busy it looks (every batch is "processed")."""

    def __init__(self, window: int = 1_000, failing_share: float = 0.5, minimum: int = 20):
        self.window = window
        self.failing_share = failing_share
        self.minimum = minimum
        self._batches: deque[tuple[int, int]] = deque()
        self._messages = 0
        self._rejected = 0
        self._reason = ""
        self._lock = threading.Lock()

    def add(self, messages: int, rejected: int, reason: str = "") -> None:
        if not messages:
            return
        with self._lock:
            self._batches.append((messages, rejected))
            self._messages += messages
            self._rejected += rejected
            if reason:
                self._reason = reason
            while len(self._batches) > 1 and self._messages - self._batches[0][0] >= self.window:
                old_messages, old_rejected = self._batches.popleft()
                self._messages -= old_messages
                self._rejected -= old_rejected

    def problem(self) -> str:
        """ "" while most messages are taken; else how many are rejected and the latest why."""
        with self._lock:
            messages, rejected, reason = self._messages, self._rejected, self._reason
        if messages < self.minimum or rejected < self.failing_share * messages:
            return ""
        return (
            f"rejecting {rejected / messages:.0%} of messages ({rejected:,} of the last "
            f"{messages:,}); latest: {reason[:120]}"
        )


class RateMeter:
    """Events per second over a sliding window of wall time (``wall``: a clock, injectable so
    that snapshot tests see a fixed rate)."""

    def __init__(self, window_s: float = 5.0, wall: Clock | None = None) -> None:
        self.window_s = window_s
        self._wall = wall or MonotonicClock()
        self._marks: list[tuple[float, int]] = []
        self._lock = threading.Lock()

    def add(self, count: int, now: float | None = None) -> None:
        now = self._wall.now() if now is None else now
        with self._lock:
            self._marks.append((now, count))
            cutoff = now - self.window_s
            while self._marks and self._marks[0][0] < cutoff:
                self._marks.pop(0)

    def rate(self, now: float | None = None) -> float:
        now = self._wall.now() if now is None else now
        with self._lock:
            recent = [c for t, c in self._marks if t >= now - self.window_s]
        return sum(recent) / self.window_s


LATENCY_BOUNDS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class LatencyTally:
    """How long an operation took, as a histogram over :data:`LATENCY_BOUNDS_S` (what a
    Prometheus histogram exposes), kept here so the pipeline needs no metrics library."""

    def __init__(self) -> None:
        self.count = 0
        self.total_s = 0.0
        self.buckets = [0] * len(LATENCY_BOUNDS_S)  # counts at or below each bound (not cumulative)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self.count += 1
            self.total_s += seconds
            for i, bound in enumerate(LATENCY_BOUNDS_S):
                if seconds <= bound:
                    self.buckets[i] += 1
                    break

    def cumulative(self) -> tuple[list[tuple[float, int]], int, float]:
        """``[(bound, count at or below)]``, the count and the sum, taken together."""
        with self._lock:
            running, pairs = 0, []
            for bound, n in zip(LATENCY_BOUNDS_S, self.buckets, strict=True):
                running += n
                pairs.append((bound, running))
            return pairs, self.count, self.total_s


REASON_KINDS_KEPT = 20  # distinct reasons counted by name; the rest as "other"
_VARYING = re.compile(r"'[^']*'|\"[^\"]*\"|\d+(\.\d+)?")


def reason_kind(reason: str) -> str:
    """A rejection's reason without what varies from message to message (quoted values,
    numbers, line numbers), so that reasons can be counted by kind."""
    text = _VARYING.sub("…", reason.split("; ")[0])
    return " ".join(text.split())[:60] or "unknown"


class ReasonTally:
    """Rejections counted by :func:`reason_kind`, at most :data:`REASON_KINDS_KEPT` kinds (a
    metrics label per distinct message would grow without bound)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, reasons: list[str]) -> None:
        with self._lock:
            for reason in reasons:
                kind = reason_kind(reason)
                if kind not in self._counts and len(self._counts) >= REASON_KINDS_KEPT:
                    kind = "other"
                self._counts[kind] = self._counts.get(kind, 0) + 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
