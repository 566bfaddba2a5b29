"""The notification parts a pipeline runs: alert history, notifier, outbox and dispatcher."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.alert_history import AlertHistory
from pipeline.notify.dispatcher import Dispatcher
from pipeline.notify.notifier import AlertNotifier
from pipeline.notify.outbox import Outbox


@dataclass(slots=True)
class Notifications:
    history: AlertHistory
    notifier: AlertNotifier
    outbox: Outbox
    dispatcher: Dispatcher

    def listeners(self) -> list:
        """Alert listeners, in order: record the transition, then decide on telling people."""
        return [self.history, self.notifier]

    def start(self) -> None:
        """With notifications off (ALERTS_ENABLED=false) nothing is sent, not even what an
        earlier run left in the outbox; it waits there (until it expires)."""
        if self.notifier.rules.enabled:
            self.dispatcher.start()

    def stop(self) -> None:
        if self.dispatcher.stop():
            self.outbox.close()
        self.history.close()

    def problems(self) -> list[str]:
        return self.dispatcher.problems()
