"""The one loop of the commands that run until told to stop (``headless``, ``service``,
``worker``, ``produce``): a step every interval until the duration is up, the step says it is
done, or SIGTERM / SIGINT (Ctrl-C) arrives; SIGHUP asks for a reload, run between steps.

Signals only set flags: the step and the reload run in the main thread, never inside a signal
handler, so a signal arriving mid-write cannot leave anything half-done.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class StopRequest:
    """What the signals asked for; ``signal`` names the one that stopped the loop."""

    stop: threading.Event = field(default_factory=threading.Event)
    reload: threading.Event = field(default_factory=threading.Event)
    signal: str = ""

    def _stop(self, signum: int, _frame: object) -> None:
        self.signal = signal.Signals(signum).name
        self.stop.set()

    def _reload(self, _signum: int, _frame: object) -> None:
        self.reload.set()
        self.stop.set()  # wakes the wait; cleared again by the loop


@contextmanager
def signals_caught(request: StopRequest, *, reload: bool) -> Iterator[None]:
    """SIGTERM and SIGINT (and SIGHUP with ``reload``) set ``request``'s flags while inside;
    the previous handlers come back after. Outside the main thread (tests) nothing is caught."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted: dict[signal.Signals, Callable[[int, object], None]] = {
        signal.SIGTERM: request._stop,
        signal.SIGINT: request._stop,
    }
    if reload:
        wanted[signal.SIGHUP] = request._reload
    previous = {signum: signal.signal(signum, handler) for signum, handler in wanted.items()}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_until_stopped(
    step: Callable[[], bool],
    *,
    interval: Callable[[], float] | float,
    duration: float | None,
    on_reload: Callable[[], None] | None = None,
    request: StopRequest | None = None,
) -> StopRequest:
    """Call ``step`` (False: finished) every ``interval`` seconds until finished, the
    ``duration`` is up or a stop signal came; ``on_reload`` after each SIGHUP. Returns what
    stopped it (``request.signal`` is "" when the step finished or the time was up)."""
    request = request or StopRequest()
    deadline = None if duration is None else time.monotonic() + duration
    with signals_caught(request, reload=on_reload is not None):
        while True:
            if request.reload.is_set():
                request.reload.clear()
                if not request.signal:
                    request.stop.clear()
                if on_reload is not None:
                    on_reload()
            if request.stop.is_set() or not step():
                break
            wait = interval() if callable(interval) else interval
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    break
            request.stop.wait(max(wait, 0.0))
    return request
