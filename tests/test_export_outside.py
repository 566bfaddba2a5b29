"""``mass-tui export`` run as a user runs it, in a subprocess: to a terminal (a real pty), and
from a store in a directory the exporting user cannot write."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pipeline.stations import Station
from pipeline.store import Store

T0 = 1_780_000_000.0
EVIL = "ev\x1b]0;pwned\x07il\x9b2J\u202e"  # OSC title, C1 CSI, a bidi override
NOBODY = 65534


def fill(store: Store, station_id: str, source: str = "test") -> None:
    key = store.station_key(Station(station_id, "x", 51.5, -0.1))
    store.write(
        station_keys=np.full(2, key),
        observed_at=T0 + np.array([0.0, 60.0]),
        values=np.array([[10.0], [-3.5]]),
        source=source,
        anomalies=(),
    )


def mass_tui(args: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    """As root, as the unprivileged ``nobody`` (root writes through any mode bits), through
    util-linux's setpriv: an interpreter under /root is out of reach of subprocess's ``user=``."""
    as_user = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv to drop to an unprivileged user")
        as_user = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    env = {**os.environ, "XDG_CONFIG_HOME": str(cwd), "HOME": str(cwd)}
    return subprocess.run(
        [*as_user, sys.executable, "-m", "mass_tui", *args],
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
        **kwargs,
    )


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory anyone may enter (pytest's own are the user's only), removed afterwards."""
    top = Path(tempfile.mkdtemp(prefix="mass-export-"))
    top.chmod(0o755)
    yield top
    for directory in (top, *(p for p in top.rglob("*") if p.is_dir())):
        directory.chmod(0o755)
    shutil.rmtree(top)


def read_only_copy(source: Path, into: Path, names: tuple[str, ...]) -> Path:
    into.mkdir()
    for name in names:
        shutil.copy(source / name, into / name)
        (into / name).chmod(0o644)
    into.chmod(0o555)
    return into


def test_a_closed_store_in_a_read_only_directory_is_exported(shared: Path):
    store = Store(shared / "live" / "mass.sqlite3", ("temperature_c",), retention_s=1e9)
    fill(store, "lon")
    store.close()
    copy = read_only_copy(shared / "live", shared / "ro", ("mass.sqlite3",))
    done = mass_tui(["export", "--data-dir", str(copy)], shared, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == [
        "lon,2026-05-28T20:26:40Z,test,,10.0",
        "lon,2026-05-28T20:27:40Z,test,,-3.5",
    ]
    assert sorted(p.name for p in copy.iterdir()) == ["mass.sqlite3"]


def test_a_copy_of_a_live_store_without_its_index_says_what_to_do(shared: Path):
    store = Store(shared / "live" / "mass.sqlite3", ("temperature_c",), retention_s=1e9)
    fill(store, "lon")  # in the write-ahead log, not yet in the file
    copy = read_only_copy(shared / "live", shared / "ro", ("mass.sqlite3", "mass.sqlite3-wal"))
    store.close()
    done = mass_tui(["export", "--data-dir", str(copy)], shared, capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "its directory is read-only and mass.sqlite3-wal holds commits" in done.stderr


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_from_outside_reaches_a_terminal_escaped_and_a_file_exact(shared: Path, fmt: str):
    store = Store(shared / "mass.sqlite3", ("temperature_c",), retention_s=1e9)
    fill(store, EVIL, source="src\x1b[2J")
    store.close()
    (shared / "mass.sqlite3").chmod(0o644)
    shared.chmod(0o777)
    leader, follower = pty.openpty()
    try:
        done = mass_tui(
            ["export", "--data-dir", str(shared), "--format", fmt],
            shared,
            stdout=follower,
            stderr=subprocess.DEVNULL,
        )
        os.close(follower)
        shown = b""
        while chunk := _read(leader):
            shown += chunk
    finally:
        os.close(leader)
    assert done.returncode == 0
    text = shown.decode()
    assert not any(c in text for c in "\x1b\x07\x9b\u202e")
    assert ("ev\\x1b]0;pwned\\x07il" if fmt == "csv" else "ev\\u001b]0;pwned\\u0007il") in text
    out = shared / f"o.{fmt}"
    assert (
        mass_tui(["export", "--data-dir", str(shared), "--output", str(out)], shared).returncode
        == 0
    )
    written = out.read_text(encoding="utf-8")
    if fmt == "csv":
        assert next(csv.DictReader(io.StringIO(written)))["station_id"] == EVIL
    else:  # JSON escapes C0 itself; the rest stays as it was
        assert json.loads(written.splitlines()[0])["station_id"] == EVIL and "\u202e" in written


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: the writer closed the terminal
        return b""
