"""Type checking is part of the suite: mypy over every package of the project, which must stay
clean of it (a new error fails here, not in a later reader's head)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
CHECKED = ("mass_tui", "pipeline", "widgets", "themes")


def test_mypy_finds_no_issue():
    done = subprocess.run(
        [sys.executable, "-m", "mypy", *CHECKED, "--ignore-missing-imports", "--no-incremental"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
