"""What the console costs to watch: CPU, terminal output and the time to its first frame.

Run: ``.venv/bin/python bench/console_load.py [--seconds 30] [--stations 5]
[--rate-per-station 1]``.

The console runs as a person runs it, in a tmux pane of 120x40 (the embedded pipeline and the
station simulator in its process), with a fresh data directory. Printed:

- first frame: seconds from starting the process until the pane shows the footer's keys;
- CPU: the process's user+system time over the measured span, as a share of one core;
- output: the bytes the console wrote to the terminal over that span (``tmux pipe-pane``), per
  second, in steady state (after a warm-up of 5 s).

Needs tmux.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
TICKS = os.sysconf("SC_CLK_TCK")
WARM_UP_S = 5.0


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--stations", type=int, default=5)
    parser.add_argument("--rate-per-station", type=float, default=1.0)
    parser.add_argument("--size", default="120x40")
    parser.add_argument(
        "--source-tree", help="run the console of this checkout (e.g. an older commit's worktree)"
    )
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("console_load: needs tmux", file=sys.stderr)
        return 2
    width, height = args.size.split("x")
    session = f"mass-load-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="mass-load-") as scratch:
        output = Path(scratch) / "terminal.bin"
        command = f"exec {VENV_BIN / 'mass-tui'} --data-dir {scratch}/data"
        if (args.stations, args.rate_per_station) != (5, 1.0):  # else the defaults, as shipped
            config = Path(scratch) / "config.toml"
            config.write_text(
                "[simulator]\n"
                f"extra_stations = {max(0, args.stations - 5)}\n"
                f"rate_per_station = {args.rate_per_station}\n"
            )
            command += f" --config {config}"
        if args.source_tree:
            command = command.replace("exec ", f"exec env PYTHONPATH={args.source_tree} ", 1)
        started = time.monotonic()
        tmux("new-session", "-d", "-s", session, "-x", width, "-y", height, command)
        try:
            first_frame = None
            while time.monotonic() - started < 20:
                if "Quit" in tmux("capture-pane", "-p", "-t", session):
                    first_frame = time.monotonic() - started
                    break
                time.sleep(0.01)
            pid = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip())
            time.sleep(WARM_UP_S)
            tmux("pipe-pane", "-t", session, f"cat > {output}")
            cpu_before, began = cpu_seconds(pid), time.monotonic()
            time.sleep(args.seconds)
            cpu_after, span = cpu_seconds(pid), time.monotonic() - began
            tmux("pipe-pane", "-t", session)
            written = output.stat().st_size if output.exists() else 0
        finally:
            tmux("send-keys", "-t", session, "q")
            time.sleep(1.0)
            tmux("kill-session", "-t", session)
    print(f"stations {args.stations}, {args.rate_per_station:g} obs/s each, {args.size}")
    print(f"  first frame: {first_frame:.2f} s" if first_frame else "  first frame: not seen")
    print(f"  CPU: {100 * (cpu_after - cpu_before) / span:.1f} % of a core")
    print(f"  terminal output: {written / span / 1024:.1f} KB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
