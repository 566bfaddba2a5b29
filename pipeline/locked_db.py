"""One SQLite connection shared by threads behind a lock, for the small side tables (the
notification outbox, the alert history) that live in the store's file next to its own."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from pipeline.errors import MassError


class SideTableError(MassError):
    """The table cannot be read or written; the message says what was being done."""


class LockedDatabase:
    def __init__(self, path: Path, schema: Sequence[str], what: str) -> None:
        self._lock = threading.Lock()
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode = WAL")
            for statement in schema:
                self._conn.execute(statement)
        except (OSError, sqlite3.Error) as exc:
            raise SideTableError(f"{path}: cannot open the {what}: {exc}") from exc

    def run(self, doing: str, sql: str, params: Iterable = ()) -> sqlite3.Cursor:
        try:
            with self._lock:
                return self._conn.execute(sql, tuple(params))
        except sqlite3.Error as exc:
            raise SideTableError(f"cannot {doing}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()
