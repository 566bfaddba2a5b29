"""The producer's durable spool: every observation is written here before it is sent.

A message is *accepted* once it is in the spool (a committed SQLite row in WAL mode, which
survives the process being killed). Rows move ``pending -> in flight -> delivered``; a failed
or interrupted send puts them back to pending, and they are sent again in the order they were
accepted. Delivered rows are kept (up to ``keep_delivered``) so that a broker that comes back
without the log it had acknowledged (one without durable storage) can be refilled.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import MassError
from pipeline.exclusive import ExclusiveLock, LockHeld

PENDING, IN_FLIGHT, DELIVERED, REFUSED = 0, 1, 2, 3


class SpoolError(MassError):
    """The spool file cannot be opened or written."""


@dataclass(frozen=True, slots=True)
class SpooledMessage:
    seq: int
    topic: str
    key: bytes
    value: bytes
    reason: str | None  # set for a dead letter: why the message could not be used
    produced_at_ms: int  # the producer's clock when it accepted the message


class Spool:
    def __init__(self, path: Path, keep_delivered: int) -> None:
        self.path = Path(path)
        self.keep_delivered = keep_delivered
        self._lock = threading.Lock()
        # One producer per spool: two would send each other's messages.
        try:
            self._owner = ExclusiveLock(self.path.with_name(self.path.name + ".lock"), "spool")
        except LockHeld as exc:
            raise SpoolError(
                f"another producer is using this spool: {exc}; give each producer on a machine"
                " its own --data-dir"
            ) from None
        except OSError as exc:
            raise SpoolError(
                f"{self.path}: cannot open the producer spool: {exc.strerror}"
            ) from exc
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA busy_timeout = 5000")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS spool ("
                " seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,"
                " key BLOB NOT NULL, value BLOB NOT NULL, reason TEXT,"
                " produced_at_ms INTEGER NOT NULL,"
                " state INTEGER NOT NULL DEFAULT 0)"
            )
            self._conn.execute("CREATE INDEX IF NOT EXISTS spool_state ON spool (state, seq)")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS notes (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            # A send interrupted by a crash or restart was never confirmed: send it again.
            self._conn.execute(f"UPDATE spool SET state = {PENDING} WHERE state = {IN_FLIGHT}")
        except (OSError, sqlite3.Error) as exc:
            raise SpoolError(f"{self.path}: cannot open the producer spool: {exc}") from exc

    def _execute(self, doing: str, sql: str, params: tuple[str | int, ...] = ()) -> sqlite3.Cursor:
        try:
            with self._lock:
                return self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise SpoolError(f"{self.path}: cannot {doing}: {exc}") from exc

    def append(
        self,
        topic: str,
        messages: Sequence[tuple[bytes, bytes]],
        produced_at_ms: int,
        reason: str | None = None,
    ) -> None:
        """Accept messages (key, value); once this returns they survive a restart."""
        try:
            with self._lock:
                self._conn.execute("BEGIN")
                self._conn.executemany(
                    "INSERT INTO spool (topic, key, value, reason, produced_at_ms)"
                    " VALUES (?, ?, ?, ?, ?)",
                    ((topic, key, value, reason, produced_at_ms) for key, value in messages),
                )
                self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise SpoolError(f"{self.path}: cannot accept messages: {exc}") from exc

    def take_pending(self, limit: int) -> list[SpooledMessage]:
        """The oldest pending messages, marked in flight."""
        try:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT seq, topic, key, value, reason, produced_at_ms FROM spool"
                    f" WHERE state = {PENDING}"
                    " ORDER BY seq LIMIT ?",
                    (limit,),
                ).fetchall()
                if rows:
                    self._conn.execute(
                        f"UPDATE spool SET state = {IN_FLIGHT}"
                        f" WHERE state = {PENDING} AND seq <= ?",
                        (rows[-1][0],),
                    )
        except sqlite3.Error as exc:
            raise SpoolError(f"{self.path}: cannot read pending messages: {exc}") from exc
        return [SpooledMessage(*row) for row in rows]

    def settle(self, delivered: Sequence[int], failed: Sequence[int]) -> None:
        """Record delivery reports: seqs delivered, seqs to send again."""
        try:
            with self._lock:
                self._conn.execute("BEGIN")
                self._conn.executemany(
                    f"UPDATE spool SET state = {DELIVERED} WHERE seq = ?",
                    ((s,) for s in delivered),
                )
                self._conn.executemany(
                    f"UPDATE spool SET state = {PENDING} WHERE seq = ?", ((s,) for s in failed)
                )
                self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise SpoolError(f"{self.path}: cannot record deliveries: {exc}") from exc

    def _rollback(self) -> None:
        """Under the lock: another thread must not run its statements inside our transaction."""
        with self._lock:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")

    def refuse(self, seq: int, reason: str) -> None:
        """A message the broker will never take (too large...): kept, not sent again."""
        self._execute(
            "mark a refused message",
            f"UPDATE spool SET state = {REFUSED}, reason = ? WHERE seq = ?",
            (reason, seq),
        )

    def requeue_in_flight(self) -> int:
        """Sends that will never report (a producer replaced after a fatal error)."""
        cursor = self._execute(
            "requeue messages", f"UPDATE spool SET state = {PENDING} WHERE state = {IN_FLIGHT}"
        )
        return cursor.rowcount

    def resend_delivered(self) -> int:
        """The broker lost what it had acknowledged: send every kept message again."""
        cursor = self._execute(
            "requeue lost messages",
            f"UPDATE spool SET state = {PENDING} WHERE state = {DELIVERED}",
        )
        return cursor.rowcount

    def remembered(self, key: str) -> str | None:
        row = self._execute(
            "read the spool's notes", "SELECT value FROM notes WHERE key = ?", (key,)
        ).fetchone()
        return row[0] if row else None

    def remember(self, key: str, value: str) -> None:
        self._execute(
            "write the spool's notes",
            "INSERT INTO notes (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def trim(self) -> int:
        """Forget delivered messages beyond the newest ``keep_delivered``."""
        cursor = self._execute(
            "trim delivered messages",
            f"DELETE FROM spool WHERE state = {DELIVERED} AND seq <= ("
            f" SELECT seq FROM spool WHERE state = {DELIVERED}"
            " ORDER BY seq DESC LIMIT 1 OFFSET ?)",
            (self.keep_delivered,),
        )
        return cursor.rowcount

    def undelivered(self) -> int:
        """Accepted messages not yet confirmed by the broker."""
        row = self._execute(
            "count undelivered messages",
            f"SELECT COUNT(*) FROM spool WHERE state IN ({PENDING}, {IN_FLIGHT})",
        ).fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        self._owner.release()
