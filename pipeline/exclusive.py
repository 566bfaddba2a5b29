"""One process at a time on a file: a second one on the same data says who holds it.

Two pipelines on one store would both notify people (duplicate e-mails and webhook posts) and
number their alerts over each other; two producers on one spool would send each other's
messages. ``flock`` is released by the kernel when the holder exits, however it exits, so a
crash never leaves a stale lock; the holder's pid and command are written into the lock file
only to tell the second process whom to look for.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path
from typing import IO

from pipeline.errors import MassError
from pipeline.text import printable


class LockHeld(MassError):
    """Another process holds the lock; the message names it."""


class ExclusiveLock:
    def __init__(self, path: Path, what: str) -> None:
        """Take the lock on ``path`` (created if missing) for ``what`` (e.g. "the store");
        raises :class:`LockHeld` naming the holder, or OSError when the file cannot be opened."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] | None = path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = self._holder()
            self._handle.close()
            self._handle = None
            raise LockHeld(f"{what} {path.parent} is in use by {holder}") from None
        self._handle.seek(0)
        self._handle.truncate()
        command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))
        self._handle.write(f"{os.getpid()}\n{command[:200]}\n")
        self._handle.flush()

    def _holder(self) -> str:
        assert self._handle is not None
        self._handle.seek(0)
        pid, _, command = self._handle.read(500).partition("\n")
        command = printable(command.strip(), 100)
        if not pid.strip().isdigit():
            return "another process"
        return f"process {pid.strip()}" + (f" ({command})" if command else "")

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the descriptor releases the flock
            self._handle = None
