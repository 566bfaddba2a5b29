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
        self.dispatcher.start()

    def stop(self) -> None:
        self.dispatcher.stop()
        self.outbox.close()
        self.history.close()

    def problems(self) -> list[str]:
        return self.dispatcher.problems()
