"""Peak memory of ``mass-tui export`` over a million observation rows, per format.

Run: ``.venv/bin/python bench/export_memory.py [--rows 1000000]`` (Parquet needs polars:
``pip install -e ".[parquet]"``). A store of the standard variables (10 stations, one reading a
minute) is built in a scratch directory, then each format is exported by a fresh interpreter
that reports its own peak resident set (``VmHWM``, see ``mass_tui.bench_memory.peak_rss_mb``)
and the output's size. Nothing is timed against a limit: the figures are printed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.stations import Station
from pipeline.store import Store
from pipeline.variables import STANDARD_VARIABLES

STATIONS = 10
START = 1_767_225_600.0
CHILD = (
    "import sys\n"
    "from mass_tui.cli import main\n"
    "from mass_tui.bench_memory import peak_rss_mb\n"
    "code = main(sys.argv[1:])\n"
    "print(f'peak {peak_rss_mb():.0f}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def build(directory: Path, rows: int) -> None:
    names = [v.name for v in STANDARD_VARIABLES]
    store = Store(directory / "mass.sqlite3", names, retention_s=1e12)
    rng = np.random.default_rng(1)
    per_station = rows // STATIONS
    for s in range(STATIONS):
        key = store.station_key(Station(f"s{s}", f"Station {s}", 50.0 + s, float(s)))
        for begin in range(0, per_station, 50_000):
            n = min(50_000, per_station - begin)
            store.write(
                station_keys=np.full(n, key),
                observed_at=START + 60.0 * np.arange(begin, begin + n),
                values=rng.normal(10.0, 5.0, (n, len(names))),
                source="bench",
                anomalies=(),
            )
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mass-bench-export-") as scratch:
        directory = Path(scratch)
        build(directory, args.rows)
        print(f"{args.rows:,} observation rows, {len(STANDARD_VARIABLES)} variables")
        for suffix in ("csv", "jsonl", "parquet"):
            out = directory / f"out.{suffix}"
            done = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    "export",
                    "--data-dir",
                    scratch,
                    "--output",
                    str(out),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            peak = next(
                (line.split()[1] for line in done.stderr.splitlines() if line.startswith("peak")),
                "?",
            )
            size = out.stat().st_size / 1e6 if out.exists() else 0.0
            print(
                f"  {suffix:8} peak RSS {peak:>5} MB   file {size:7.1f} MB   exit {done.returncode}"
            )


if __name__ == "__main__":
    main()
