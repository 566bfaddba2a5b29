"""The comparison for ``mass-tui bench``: what a data engineer would write with polars.

A plain micro-batch job over the same wire JSON messages: each batch is read with
``polars.read_ndjson``, appended to the last ``window`` rows kept per station, and the rolling
z-score, an EWMA and a one-sided CUSUM are computed per station and variable with polars
expressions (``rolling_mean/std``, ``ewm_mean``, and the CUSUM as the cumulative sum minus its
running minimum); flags over the thresholds are counted, the batch's readings written to
SQLite with ``executemany``. No quality control, no de-duplication, no alerts: less than the
pipeline does, which makes it a fair floor to compare speed against, not detection.

Run: ``.venv/bin/python bench/polars_baseline.py [--stations 100] [--observations 200000]``
(needs polars: ``pip install -e ".[bench]"``). It runs mass-tui's own path from the same
messages in the same process, interleaved, and prints both with their ratio.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

WINDOW = 60  # readings in the rolling window (detectors.zscore.window)
Z_LIMIT = 6.0
EWMA_ALPHA = 0.2
EWMA_LIMIT = 3.0
CUSUM_K, CUSUM_H = 0.5, 5.0


def process_batch(
    history: pl.DataFrame | None, batch: pl.DataFrame, variables: Sequence[str]
) -> tuple[pl.DataFrame, int]:
    """Detect over the batch (with the kept history before it); returns the new history and
    how many readings were flagged."""
    frame = batch if history is None else pl.concat([history, batch], how="vertical_relaxed")
    frame = frame.sort("station_id", "observed_at")
    flags = []
    for v in variables:
        x = pl.col(v)
        mean = x.rolling_mean(WINDOW, min_samples=10).over("station_id")
        std = x.rolling_std(WINDOW, min_samples=10).over("station_id")
        z = ((x - mean) / std).abs()
        ewma = x.ewm_mean(alpha=EWMA_ALPHA, adjust=False).over("station_id")
        step = ((x - mean) / std - CUSUM_K).fill_nan(0).fill_null(0)
        total = step.cum_sum().over("station_id")
        cusum = total - pl.min_horizontal(total.cum_min().over("station_id"), pl.lit(0.0))
        flags.append((z > Z_LIMIT) | ((x - ewma).abs() / std > EWMA_LIMIT) | (cusum > CUSUM_H))
    scored = frame.with_columns(
        pl.any_horizontal(flags).alias("flagged"), pl.lit(True).alias("new")
    )
    fresh = (
        scored.tail(batch.height)
        if history is None
        else scored.join(
            batch.select("station_id", "observed_at"), on=["station_id", "observed_at"], how="semi"
        )
    )
    flagged = int(fresh["flagged"].sum())
    kept = frame.group_by("station_id", maintain_order=True).tail(WINDOW)
    return kept, flagged


def to_frame(payloads: Sequence[bytes], variables: Sequence[str]) -> pl.DataFrame:
    """A batch of wire messages as a frame: one ``read_ndjson`` of the joined lines."""
    frame = pl.read_ndjson(b"\n".join(payloads))
    values = frame.get_column("values").struct.unnest()
    return pl.DataFrame(
        {
            "station_id": frame.get_column("station_id"),
            "observed_at": frame.get_column("observed_at").str.to_datetime(time_zone="UTC"),
            **{v: values.get_column(v).cast(pl.Float64) for v in variables},
        }
    )


class PolarsPipeline:
    def __init__(self, variables: Sequence[str], database: Path | None) -> None:
        self.variables = list(variables)
        self.history: pl.DataFrame | None = None
        self.flagged = 0
        self.db = None
        if database is not None:
            self.db = sqlite3.connect(database, isolation_level=None)
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            columns = ", ".join(f'"{v}" REAL' for v in self.variables)
            self.db.execute(
                f"CREATE TABLE observations (station_id TEXT, observed_at TEXT, {columns},"
                " PRIMARY KEY (station_id, observed_at))"
            )
            marks = ", ".join("?" * (2 + len(self.variables)))
            self.insert = f"INSERT OR IGNORE INTO observations VALUES ({marks})"

    def process(self, payloads: Sequence[bytes]) -> None:
        batch = to_frame(payloads, self.variables)
        self.history, flagged = process_batch(self.history, batch, self.variables)
        self.flagged += flagged
        if self.db is not None:
            rows = batch.with_columns(pl.col("observed_at").dt.to_string("%Y-%m-%dT%H:%M:%S"))
            self.db.execute("BEGIN")
            self.db.executemany(self.insert, rows.iter_rows())
            self.db.execute("COMMIT")

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def run(
    chunks: Iterable[Sequence[bytes]], variables: Sequence[str], *, batch: int, store: bool
) -> tuple[float, int]:
    """Seconds spent processing, and messages processed, over the chunks of messages."""
    with tempfile.TemporaryDirectory(prefix="mass-polars-") as scratch:
        pipeline = PolarsPipeline(variables, Path(scratch) / "polars.sqlite3" if store else None)
        seconds, count = 0.0, 0
        for payloads in chunks:
            began = time.perf_counter()
            for first in range(0, len(payloads), batch):
                pipeline.process(payloads[first : first + batch])
            seconds += time.perf_counter() - began
            count += len(payloads)
        pipeline.close()
    return seconds, count


def main() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from mass_tui.bench import encoded
    from mass_tui.evaluation.runner import run_chunks
    from mass_tui.evaluation.simulated import simulated_chunks, simulated_stations
    from mass_tui.settings_layers import load_settings
    from pipeline.store import Store

    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--observations", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=20_000)
    args = parser.parse_args()
    loaded = load_settings(environ={})
    simulator, stations = simulated_stations(loaded, args.stations)
    names = [v.name for v in loaded.variables]
    steps = -(-args.observations // len(stations))

    def messages():
        return encoded(simulated_chunks(simulator, stations, names, steps))

    print(f"{args.observations:,} observations, {len(stations):,} stations, from wire JSON")
    for store in (False, True):
        seconds, count = run((p for _, p in messages()), names, batch=args.batch, store=store)
        polars_rate = count / seconds
        with tempfile.TemporaryDirectory(prefix="mass-bench-") as scratch:
            sqlite = Store(Path(scratch) / "b.sqlite3", names, retention_s=1e12) if store else None
            outcome = run_chunks(loaded, stations, messages(), batch=args.batch, store=sqlite)
        ours = outcome.accepted / outcome.seconds
        label = "with SQLite" if store else "detect-only"
        print(
            f"  {label:12} mass-tui {ours:9,.0f} obs/s   polars {polars_rate:9,.0f} obs/s"
            f"   ratio {ours / polars_rate:4.2f}"
        )


if __name__ == "__main__":
    main()
