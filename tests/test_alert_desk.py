"""A watching console's alert desk: intents become commands for the workers (no broker here:
the commands are collected as the bus would send them)."""

from pipeline.alert_desk import RelayedDesk
from pipeline.alerts import LIFTED, AlertBook, AlertCommand
from pipeline.clock import FixedClock
from tests.test_alerts import rule

NOW = 1_000.0


def relayed() -> tuple[RelayedDesk, AlertBook, list[AlertCommand]]:
    book = AlertBook()
    sent: list[AlertCommand] = []
    return RelayedDesk(book, FixedClock(NOW), 600.0, sent.append), book, sent


def test_an_acknowledgement_names_the_alert_by_key_opening_and_the_severity_seen():
    desk, book, sent = relayed()
    [alert] = book.observe([rule("pressure_fall", "advisory", 900)])
    assert desk.acknowledge(alert.id, "ann") == alert
    assert sent == [
        AlertCommand(
            "acknowledge",
            "ann",
            "lon",
            "pressure_fall",
            "pressure_msl_hpa",
            opened_at=alert.opened_at,
            severity="advisory",
        )
    ]
    assert book.alerts()[0].state == "active"  # changed when the workers' transition comes back


def test_nothing_is_sent_for_an_unknown_or_acknowledged_alert():
    desk, book, sent = relayed()
    [alert] = book.observe([rule("pressure_fall", "advisory", 900)])
    book.acknowledge(alert.id, "bob", now=950)
    assert desk.acknowledge(alert.id, "ann") is None
    assert desk.acknowledge(alert.id + 1, "ann") is None
    assert desk.silence("ann", alert_id=alert.id + 1) == []
    assert sent == []


def test_a_station_silence_is_sent_and_known_here_at_once_and_its_lifting_too():
    desk, _, sent = relayed()
    assert desk.silence("ann", station_id="lon") == []
    assert desk.station_silenced("lon")
    assert (sent[0].action, sent[0].until, sent[0].rule) == ("silence", NOW + 600.0, "")
    desk.unsilence("bob", station_id="lon")
    assert not desk.station_silenced("lon")
    assert (sent[1].action, sent[1].user) == ("unsilence", "bob")
    assert sent[1].at > sent[0].at  # ordered after the silence wherever it is read


def test_station_silences_read_back_from_the_commands_topic_are_followed():
    desk, _, _ = relayed()
    desk.obey(AlertCommand("silence", "ann", "par", until=NOW + 60, at=NOW))
    assert desk.station_silenced("par")
    desk.obey(AlertCommand("silence", "old", "par", until=LIFTED, at=NOW - 10))  # older: ignored
    assert desk.station_silenced("par")
    desk.obey(AlertCommand("unsilence", "bob", "par", at=NOW + 1))
    assert not desk.station_silenced("par")
