"""Type checking is part of the suite: mypy over the packages that are clean of it (mass_tui/
still has errors to work through; it joins the list when it has none)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
CHECKED = ("pipeline", "widgets", "themes")


def test_mypy_finds_no_issue():
    done = subprocess.run(
        [sys.executable, "-m", "mypy", *CHECKED, "--ignore-missing-imports", "--no-incremental"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
