from dataclasses import replace

from pipeline.alert_history import AlertHistory
from pipeline.alerts import LIFTED, Alert, AlertBook, StationSilence
from pipeline.anomaly import Anomaly
from tests.conftest import gust_alert


def rule(detector, severity, t, station="lon", variable="pressure_msl_hpa"):
    return Anomaly(
        station_id=station,
        variable=variable,
        value=1000.0,
        detector=detector,
        score=0.6,
        threshold=3.5,
        observed_at=t,
        statistic=4.0,
        quantity=4.0,
        severity=severity,
    )


def test_rule_anomaly_opens_an_alert_and_statistical_ones_do_not():
    book = AlertBook()
    changed = book.observe([rule("pressure_fall", "advisory", 10), rule("zscore", None, 11)])
    assert [(a.rule, a.state, a.severity) for a in changed] == [
        ("pressure_fall", "active", "advisory")
    ]
    assert len(book.alerts()) == 1


def test_escalation_reactivates_an_acknowledged_alert():
    book = AlertBook()
    [opened] = book.observe([rule("pressure_fall", "advisory", 10)])
    assert book.acknowledge(opened.id, "ops", now=11).acknowledged_by == "ops"
    [escalated] = book.observe([rule("pressure_fall", "warning", 12)])
    assert (escalated.id, escalated.state, escalated.severity) == (opened.id, "active", "warning")


def test_alert_clears_when_its_rule_no_longer_holds():
    book = AlertBook()
    book.observe([rule("gust", "advisory", 10, variable="wind_gust_ms")])
    assert book.settle({("lon", "gust", "wind_gust_ms")}, now=11) == []
    [cleared] = book.settle(set(), now=12)
    assert (cleared.state, cleared.cleared_at) == ("cleared", 12)
    assert book.acknowledge(cleared.id, "ops", now=13) is None
    assert [a.state for a in book.alerts()] == ["cleared"]


def statistical(t, station="lon"):
    return Anomaly(
        station_id=station,
        variable="temperature_c",
        value=30.0,
        detector="zscore",
        score=0.6,
        threshold=6.0,
        observed_at=t,
        statistic=7.0,
    )


def test_persisting_statistical_anomalies_open_an_alert_that_clears_when_they_stop():
    from pipeline.persistent_anomalies import PersistenceWatch

    watch = PersistenceWatch(enabled=True, count=3, window_s=600)
    book = AlertBook()
    assert book.observe(watch.observe([statistical(0), statistical(60)])) == []
    [opened] = book.observe(watch.observe([statistical(120)]))
    assert (opened.rule, opened.variable, opened.quantity) == ("persistent_anomalies", "*", 3)
    assert book.settle(watch.holding(300), now=300) == []
    [cleared] = book.settle(watch.holding(700), now=700)  # the first fell out of the window
    assert cleared.state == "cleared"
    off = PersistenceWatch(enabled=False, count=1, window_s=600)
    assert off.observe([statistical(0)]) == [] and off.holding(0) == set()


def test_a_silence_that_ended_or_was_asked_before_the_last_change_changes_nothing():
    """Commands are read again after a restart: an old silence must not mute a later alert,
    and a silence lifted since must stay lifted."""
    book = AlertBook()
    assert book.silence(now=100, until=160, user="ann", station_id="lon") == []
    [later] = book.observe([rule("gust", "advisory", 200, variable="wind_gust_ms")])
    assert later.silenced_by is None
    assert book.silence(now=200, until=160, user="ann", station_id="lon", at=100) == []  # ended
    [muted] = book.silence(now=200, until=900, user="bob", station_id="lon", at=200)
    assert (muted.silenced_by, muted.silenced_until) == ("bob", 900)
    [lifted] = book.unsilence(now=210, user="cy", station_id="lon", at=210)
    assert (lifted.last_transition, lifted.silenced_until, lifted.silenced_by) == (
        "unsilenced",
        None,
        "cy",
    )
    # Read again: bob's silence and cy's lifting, in order; neither changes anything now.
    assert book.silence(now=220, until=900, user="bob", station_id="lon", at=200) == []
    assert book.unsilence(now=220, user="cy", station_id="lon", at=210) == []
    assert book.station_silence("lon") == StationSilence(LIFTED, "cy", 210)
    assert not book.alerts()[0].is_silenced(220)
    # A new silence of the one alert, asked later, applies; lifting it twice lifts once.
    assert book.silence(now=230, until=800, user="dee", alert_id=later.id, at=230)
    assert book.unsilence(now=240, user="dee", alert_id=later.id, at=240)
    assert book.unsilence(now=250, user="dee", alert_id=later.id, at=250) == []


def test_pressing_the_key_again_at_the_same_observed_time_still_toggles():
    """A paused replay does not move the clock: a person's changes are stamped just after the
    last one, so they are never taken for an old command."""
    book = AlertBook()
    [alert] = book.observe([rule("gust", "advisory", 100, variable="wind_gust_ms")])
    for change in ("silence", "unsilence", "silence"):
        at = book.next_change_at(100, alert.id, None)
        if change == "silence":
            assert book.silence(now=100, until=500, user="ann", alert_id=alert.id, at=at)
        else:
            assert book.unsilence(now=100, user="ann", alert_id=alert.id, at=at)
    assert book.alerts()[0].is_silenced(100)


def history_of(tmp_path, *steps):
    """An alert history holding the transitions ``steps`` return, in that order."""
    history = AlertHistory(tmp_path / "history.sqlite3")
    for step in steps:
        for alert in step():
            history(alert)
    return history


def test_the_history_rebuilds_open_and_cleared_alerts_and_a_clearing_is_final(tmp_path):
    book = AlertBook()
    [opened] = book.observe([rule("pressure_fall", "advisory", 10)])
    history = history_of(
        tmp_path,
        lambda: [opened],
        lambda: [book.acknowledge(opened.id, "ann", now=20)],
        lambda: book.observe([rule("pressure_fall", "warning", 30)]),
        lambda: book.observe([rule("gust", "advisory", 40, variable="wind_gust_ms")]),
        lambda: book.settle({("lon", "gust", "wind_gust_ms")}, now=50),
    )
    rebuilt = history.recent(keep_cleared=10, since=0)
    assert [(a.rule, a.state, a.severity, a.acknowledged_by) for a in rebuilt] == [
        ("pressure_fall", "cleared", "warning", "ann"),
        ("gust", "active", "advisory", None),
    ]
    assert rebuilt[0].opened_at == 10 and rebuilt[0].cleared_at == 50
    # A row written after the clearing (never in this order since the alert lock; defended
    # against anyway) does not reopen it.
    late = replace(
        opened,
        state="acknowledged",
        acknowledged_by="bob",
        acknowledged_at=60,
        last_transition="acknowledged",
    )
    history(late)
    assert history.recent(keep_cleared=10, since=0)[0].state == "cleared"


def opened(alert_id: int, rule_name: str, at: float) -> Alert:
    return gust_alert(id=alert_id, rule=rule_name, opened_at=at, updated_at=at)


def test_an_open_alert_left_long_ago_or_superseded_is_not_rebuilt(tmp_path):
    """Histories from before clearings were recorded hold alerts that never cleared."""
    history = AlertHistory(tmp_path / "history.sqlite3")
    history(opened(1, "gust", 0))  # never cleared, and a newer alert of its key follows
    history(opened(2, "gust", 86_400))
    history(opened(3, "rapid_change", 5))  # never cleared
    assert [a.id for a in history.recent(keep_cleared=10, since=0)] == [2, 3]
    assert [a.id for a in history.recent(keep_cleared=10, since=3_600)] == [2]


def test_an_acknowledgement_recorded_after_an_escalation_does_not_cover_it(tmp_path):
    history = AlertHistory(tmp_path / "history.sqlite3")
    advisory = opened(1, "gust", 0)
    history(advisory)
    history(replace(advisory, severity="warning", last_transition="escalated", updated_at=10))
    history(
        replace(
            advisory,
            state="acknowledged",
            acknowledged_by="ann",
            acknowledged_at=5,
            last_transition="acknowledged",
        )
    )
    [rebuilt] = history.recent(keep_cleared=10, since=0)
    assert (rebuilt.state, rebuilt.severity, rebuilt.acknowledged_by) == ("active", "warning", None)


def test_a_watching_console_follows_each_alert_by_its_opening_time():
    book = AlertBook()
    first = gust_alert(id=40, opened_at=100.0)  # worker A numbers it 40
    [mirrored] = book.mirror([first])
    [escalated] = book.mirror([replace(first, severity="warning", last_transition="escalated")])
    assert escalated.id == mirrored.id and escalated.severity == "warning"
    # The station moved to worker B, which opened its own alert; A clears its old one late.
    book.mirror([gust_alert(id=3, opened_at=500.0)])
    book.mirror([replace(first, state="cleared", cleared_at=600.0, last_transition="cleared")])
    shown = {(a.opened_at, a.state) for a in book.alerts()}
    assert shown == {(500.0, "active"), (100.0, "cleared")}


def test_a_lifted_silence_is_rebuilt_lifted(tmp_path):
    history = AlertHistory(tmp_path / "history.sqlite3")
    alert = opened(1, "gust", 0)
    history(alert)
    history(replace(alert, silenced_until=600, silenced_by="ann", silenced_at=10,
                    last_transition="silenced"))  # fmt: skip
    history(replace(alert, silenced_by="bob", silenced_at=20, last_transition="unsilenced"))
    [rebuilt] = history.recent(keep_cleared=10, since=0)
    assert (rebuilt.silenced_until, rebuilt.silenced_by, rebuilt.silenced_at) == (None, "bob", 20)
    history.silence_station("lon", StationSilence(900, "ann", 30))
    history.silence_station("lon", StationSilence(40, "bob", 40))  # lifted
    history.silence_station("lon", StationSilence(900, "ann", 30))  # read again: older
    assert history.station_silences() == {"lon": StationSilence(40, "bob", 40)}


def test_a_lifted_station_silence_mutes_nothing_even_where_the_clock_is_behind():
    """A worker behind the watcher, or a replay restarted earlier: alerts opening after the
    lifting are not muted by it."""
    book = AlertBook()
    book.silence(now=900, until=4_500, user="ann", station_id="lon", at=900)
    book.unsilence(now=990, user="dan", station_id="lon", at=1_000)  # asked at 1000
    [opened] = book.observe([rule("gust", "warning", 995, variable="wind_gust_ms")])
    assert opened.silenced_until is None and opened.silenced_by is None


def test_a_watching_console_follows_station_silences_by_the_same_rule():
    book = AlertBook()
    book.note_station_silence("lon", StationSilence(4_500, "ann", 900))
    book.note_station_silence("lon", StationSilence(LIFTED, "dan", 1_000))
    book.note_station_silence("lon", StationSilence(4_500, "ann", 900))  # read again
    assert book.station_silence("lon") == StationSilence(LIFTED, "dan", 1_000)
    assert book.next_change_at(950, None, "lon") > 1_000  # a press now is newer
