"""Reads for the console off its UI thread: a chart of a long span, the stored anomalies a
filter reaches, from the store or from an attached service. The UI asks by key and gets the
last answer at once (None before the first); a fresh read is started in the reader thread
when the answer is older than asked, and the UI is told when it is ready."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

log = logging.getLogger(__name__)


class BackgroundReads:
    def __init__(
        self,
        on_ready: Callable[[], None],
        on_error: Callable[[str], None],
        *,
        inline: bool = False,
    ) -> None:
        """``on_ready`` and ``on_error`` (a read failed: what and why) are called from the
        reader thread. ``inline`` (snapshot tests): read at once in the caller's thread, so
        what is on screen does not depend on when a thread finished."""
        self.on_ready = on_ready
        self.on_error = on_error
        self.inline = inline
        self._answers: dict[Hashable, tuple[float, Any]] = {}
        self._pending: set[Hashable] = set()
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Hashable, Callable[[], Any]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def get(self, key: Hashable, read: Callable[[], Any], max_age_s: float) -> Any:
        """The last answer for ``key`` (None if none yet); reads again if it is older than
        ``max_age_s``. A read that fails leaves the last answer (the failure is logged)."""
        now = time.monotonic()
        with self._lock:
            answer = self._answers.get(key)
            stale = answer is None or now - answer[0] > max_age_s
            if stale and key not in self._pending:
                self._pending.add(key)
                ask = True
            else:
                ask = False
        if ask:
            if self.inline:
                self._read(key, read)
                return self._answers.get(key, (0.0, None))[1]
            self._start()
            self._queue.put((key, read))
        return None if answer is None else answer[1]

    def waiting(self, key: Hashable) -> bool:
        """True while the first answer for ``key`` is being read (none to show yet)."""
        with self._lock:
            return key in self._pending and key not in self._answers

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._answers.pop(key, None)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="console-reads", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            self._read(*item)
            if not self.inline:
                try:
                    self.on_ready()
                except Exception:  # the app is shutting down
                    return

    def _read(self, key: Hashable, read: Callable[[], Any]) -> None:
        try:
            answer = read()
        except Exception as exc:
            log.warning("console read %s failed: %s", key, exc)
            with self._lock:
                self._pending.discard(key)
            try:
                self.on_error(str(exc))
            except Exception:  # the app is shutting down
                log.debug("could not tell the console", exc_info=True)
            return
        with self._lock:
            self._answers[key] = (time.monotonic(), answer)
            self._pending.discard(key)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(2.0)
