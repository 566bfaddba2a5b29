"""Peak memory of a process that takes wire messages through detection and storage.

The bench's own process also runs the station simulator (for 10,000 stations, over 100 MB of
its own state) and every other pass, so its peak says little about what a worker needs. The
messages are written to a scratch file first, and a fresh interpreter (``spawn``) reads them
back chunk by chunk into the pipeline, as a worker would take them from a broker, and reports
its own peak resident set. Nothing else runs in it.
"""

from __future__ import annotations

import multiprocessing
import resource
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from mass_tui.evaluation.runner import run_chunks
from mass_tui.settings_layers import LoadedSettings
from pipeline.stations import Station
from pipeline.store import Store


def peak_rss_mb() -> float:
    """This process's peak resident set (``VmHWM``). Not ``getrusage``: Linux keeps
    ``ru_maxrss`` across ``execve``, so a spawned child would report its parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_peak_rss(
    loaded: LoadedSettings,
    stations: list[Station],
    chunks: Iterable[tuple[float, list[bytes]]],
    batch: int,
) -> tuple[float, float]:
    """(peak RSS in MB, obs/s) of a fresh process storing and analysing ``chunks``."""
    with tempfile.TemporaryDirectory(prefix="mass-bench-rss-") as scratch:
        messages = Path(scratch) / "messages.jsonl"
        boundaries: list[tuple[float, int]] = []
        with messages.open("wb") as out:
            for now, payloads in chunks:
                out.write(b"\n".join(payloads) + b"\n")
                boundaries.append((now, len(payloads)))
        context = multiprocessing.get_context("spawn")
        with context.Pool(1) as pool:
            return pool.apply(
                _run_from_file, (loaded, stations, str(messages), boundaries, batch, scratch)
            )


def _run_from_file(
    loaded: LoadedSettings,
    stations: list[Station],
    messages: str,
    boundaries: list[tuple[float, int]],
    batch: int,
    scratch: str,
) -> tuple[float, float]:
    store = Store(
        Path(scratch) / "bench.sqlite3",
        loaded.variable_names,
        retention_s=loaded.settings.storage.retention_days * 86_400,
    )
    with open(messages, "rb") as lines:
        outcome = run_chunks(loaded, stations, _chunks(lines, boundaries), batch=batch, store=store)
    return peak_rss_mb(), outcome.accepted / outcome.seconds if outcome.seconds else 0.0


def _chunks(lines, boundaries: list[tuple[float, int]]) -> Iterator[tuple[float, list[bytes]]]:
    for now, count in boundaries:
        yield now, [lines.readline().rstrip(b"\n") for _ in range(count)]
