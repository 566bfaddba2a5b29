"""A station that stops reporting is an alert while it is silent, not only once it resumes;
one variable that stops while the rest go on is an alert of that variable; a variable
reported only when there is something to report (gusts, rain) is never "silent"."""

from __future__ import annotations

from pipeline.batch_processing import Analytics
from pipeline.bus import Delivery
from pipeline.clock import FixedClock, LatestClock, ObservedClock, SystemClock
from pipeline.observation import Observation
from pipeline.registry import StationRegistry
from pipeline.settings import (
    DetectorSettings,
    NoDataSettings,
    RuleSettings,
    ValidationSettings,
)
from pipeline.store import Store
from pipeline.variables import STANDARD_VARIABLES

START = 1_767_225_600.0
MINUTE = 60.0


def worker(clock: FixedClock) -> Analytics:
    return Analytics(
        variables=STANDARD_VARIABLES,
        detectors=DetectorSettings(),
        rules=RuleSettings(),
        validation=ValidationSettings(),
        clock=clock,
        registry=StationRegistry(),
        store=None,
        no_data=NoDataSettings(),  # 4 x the spacing, at least 30 min
    )


def reading(station: str, at: float, **values: float) -> Observation:
    return Observation(station, station.upper(), None, None, at, "test", values)


def feed(analytics: Analytics, clock: FixedClock, at: float, observations: list[Observation]):
    clock.set(at)
    analytics.process(Delivery(observations, []))


def no_data_alerts(analytics: Analytics) -> set[tuple[str, str, str]]:
    return {
        (a.station_id, a.variable, a.state)
        for a in analytics.alerts.alerts()
        if a.rule == "no_data" and a.is_open
    }


def test_a_silent_station_is_an_alert_while_it_is_silent_and_clears_when_it_reports():
    clock = FixedClock(START)
    analytics = worker(clock)
    both = {"temperature_c": 10.0, "pressure_hpa": 1000.0}
    for i in range(60):
        feed(
            analytics,
            clock,
            START + i * MINUTE,
            [reading("a", START + i * MINUTE, **both), reading("b", START + i * MINUTE, **both)],
        )
    last_a = START + 59 * MINUTE
    for i in range(60, 120):  # b goes on; a is silent
        feed(analytics, clock, START + i * MINUTE, [reading("b", START + i * MINUTE, **both)])
        if START + i * MINUTE - last_a <= 30 * MINUTE:
            assert no_data_alerts(analytics) == set(), i
    assert no_data_alerts(analytics) == {("a", "*", "active")}
    (alert,) = [a for a in analytics.alerts.alerts() if a.rule == "no_data" and a.is_open]
    assert alert.opened_at == last_a + 31 * MINUTE  # the first settle past 30 min of silence

    feed(analytics, clock, START + 120 * MINUTE, [reading("a", START + 120 * MINUTE, **both)])
    assert no_data_alerts(analytics) == set()


def test_one_variable_that_stops_is_an_alert_of_that_variable():
    clock = FixedClock(START)
    analytics = worker(clock)
    for i in range(120):
        at = START + i * MINUTE
        values = {"pressure_hpa": 1000.0}
        if i < 60:
            values["temperature_c"] = 10.0
        feed(analytics, clock, at, [reading("a", at, **values)])
    assert no_data_alerts(analytics) == {("a", "temperature_c", "active")}


def test_gusts_and_rain_reported_only_when_there_is_some_are_never_silent():
    clock = FixedClock(START)
    analytics = worker(clock)
    for i in range(240):
        at = START + i * MINUTE
        values = {"temperature_c": 10.0}
        if i < 20:
            values |= {"wind_gust_ms": 15.0, "precip_mm": 0.4}
        feed(analytics, clock, at, [reading("a", at, **values)])
    assert no_data_alerts(analytics) == set()


def test_an_hourly_station_is_not_silent_before_its_usual_spacing_is_known():
    """One reading, then the next an hour later: nobody knew it reports hourly, and the 30
    minutes in between opened a no-data alert on the first real TMY3 replay."""
    clock = FixedClock(START)
    analytics = worker(clock)
    for i in range(48):
        at = START + i * 3600.0
        feed(analytics, clock, at, [reading("a", at, temperature_c=9.0)])
        clock.set(at + 3000.0)
        analytics.tick()
        assert no_data_alerts(analytics) == set(), i


def test_with_no_batch_at_all_the_clock_alone_opens_the_alert():
    """Every station silent: no batch arrives to carry the news; the consumer's idle tick
    settles alerts at the clock's now."""
    clock = FixedClock(START)
    analytics = worker(clock)
    for i in range(30):
        feed(
            analytics,
            clock,
            START + i * MINUTE,
            [reading("a", START + i * MINUTE, temperature_c=9.0)],
        )
    clock.set(START + 29 * MINUTE + 31 * MINUTE)
    analytics.tick()
    assert no_data_alerts(analytics) == {("a", "*", "active")}


def caught_up(
    analytics: Analytics,
    clock: FixedClock,
    stations: list[str],
    first: float,
    minutes: int,
    per_batch: int = 20,
) -> None:
    """Readings of ``stations`` from ``first``, a minute apart, arriving ``per_batch``
    minutes of them at a time while the clock moves a second a batch: a start-up backfill
    being caught up (1,000 stations' three hours took the console minutes)."""
    for batch in range(0, minutes, per_batch):
        clock.advance(1.0)
        observations = [
            reading(s, first + m * MINUTE, temperature_c=9.0, pressure_hpa=1000.0)
            for m in range(batch, min(batch + per_batch, minutes))
            for s in stations
        ]
        analytics.process(Delivery(observations, []))
        analytics.tick()


def test_a_backfill_of_old_readings_caught_up_now_is_not_silence():
    now = START + 3 * 3600
    clock = FixedClock(now)
    analytics = worker(clock)
    opened = []
    analytics.alert_listeners.append(opened.append)
    caught_up(analytics, clock, ["a", "b"], START, 180)
    assert opened == []
    for i in range(1, 60):  # and live from there: still reporting
        feed(
            analytics,
            clock,
            now + i * MINUTE,
            [reading(s, now + i * MINUTE, temperature_c=9.0, pressure_hpa=1000.0) for s in "ab"],
        )
    assert opened == []


def test_a_steadily_late_feed_is_silent_one_allowance_after_its_readings_stop_arriving():
    """A provider whose readings come two hours late, every minute: old readings, but never
    a silence; once they stop coming it is one, told since its last reading (2.5 h)."""
    clock = FixedClock(START)
    analytics = worker(clock)
    late = 2 * 3600.0
    for i in range(60):
        feed(
            analytics,
            clock,
            START + i * MINUTE,
            [reading("a", START + i * MINUTE - late, temperature_c=9.0)],
        )
    assert no_data_alerts(analytics) == set()
    last_arrival = START + 59 * MINUTE
    clock.set(last_arrival + 30 * MINUTE)
    analytics.tick()
    assert no_data_alerts(analytics) == set()
    clock.set(last_arrival + 31 * MINUTE)
    analytics.tick()
    (alert,) = [a for a in analytics.alerts.alerts() if a.rule == "no_data" and a.is_open]
    assert (alert.station_id, alert.variable) == ("a", "*")
    assert alert.value == last_arrival + 31 * MINUTE - (last_arrival - late)


def test_a_station_that_stops_during_a_backfill_is_silent_one_allowance_after_it_stopped_arriving():
    now = START + 3 * 3600
    clock = FixedClock(now)
    analytics = worker(clock)
    caught_up(analytics, clock, ["a", "b"], START, 120)
    stopped = clock.now()  # a's last reading (two hours ago) arrived now; b goes on
    caught_up(analytics, clock, ["b"], START + 120 * MINUTE, 60)
    for i in range(1, 40):
        at = now + i * MINUTE
        feed(analytics, clock, at, [reading("b", at, temperature_c=9.0, pressure_hpa=1000.0)])
        expected = {("a", "*", "active")} if at - stopped > 30 * MINUTE else set()
        assert no_data_alerts(analytics) == expected, i


def stored_worker(clock: FixedClock, path) -> Analytics:
    store = Store(path, [v.name for v in STANDARD_VARIABLES], retention_s=7 * 86400)
    analytics = worker(clock)
    analytics.store = store
    return analytics


def test_after_a_restart_a_dead_station_is_silent_one_allowance_after_the_restart(tmp_path):
    """Restored readings count as arriving at the restart: what the backfill brings next
    has not been caught up yet, and a station that stays dead is told after the usual wait,
    not at once (every station of a store hours old) and not never."""
    clock = FixedClock(START)
    before = stored_worker(clock, tmp_path / "mass.sqlite3")
    for i in range(60):
        at = START + i * MINUTE
        feed(before, clock, at, [reading(s, at, temperature_c=9.0) for s in "ab"])
    assert before.store is not None
    before.store.close()

    restart = START + 59 * MINUTE + 2 * 3600
    clock = FixedClock(restart)
    after = stored_worker(clock, tmp_path / "mass.sqlite3")
    assert after.restore(restart - 86400) == 120
    after.tick()
    assert no_data_alerts(after) == set()
    for i in range(1, 40):  # b comes back live; a stays dead
        at = restart + i * MINUTE
        feed(after, clock, at, [reading("b", at, temperature_c=9.0)])
        expected = {("a", "*", "active")} if i > 30 else set()
        assert no_data_alerts(after) == expected, i


def test_a_no_data_alert_left_open_by_the_earlier_run_holds_through_the_restart(tmp_path):
    """Restored readings "arriving" at the restart must not clear a silence the earlier run
    was already telling (an all-clear, then the same alert again one allowance later)."""
    clock = FixedClock(START)
    before = stored_worker(clock, tmp_path / "mass.sqlite3")
    for i in range(60):
        at = START + i * MINUTE
        feed(before, clock, at, [reading("a", at, temperature_c=9.0)])
    for i in range(60, 100):
        feed(before, clock, START + i * MINUTE, [])
        before.tick()
    (left_open,) = [a for a in before.alerts.alerts() if a.rule == "no_data" and a.is_open]
    assert before.store is not None
    before.store.close()

    restart = START + 3 * 3600
    clock = FixedClock(restart)
    after = stored_worker(clock, tmp_path / "mass.sqlite3")
    after.alerts.reinstate([left_open], {})
    after.restore(restart - 86400)
    changes = []
    after.alert_listeners.append(changes.append)
    for i in range(40):
        clock.set(restart + i * MINUTE)
        after.tick()
    assert changes == []
    assert no_data_alerts(after) == {("a", "*", "active")}
    feed(
        after,
        clock,
        restart + 40 * MINUTE,
        [reading("a", restart + 40 * MINUTE, temperature_c=9.0)],
    )
    assert no_data_alerts(after) == set()  # it speaks: the silence is over


def test_a_worker_catching_up_a_backlog_from_the_broker_finds_no_silence():
    """A Kafka worker's clock is the producers' (the broker's stamps), kept at "now" by the
    producers that are live; another's backlog of three hours (its spool, after an outage)
    is processed now, and is not silence."""
    now = START + 3 * 3600
    stamped = ObservedClock(now)
    analytics = Analytics(
        variables=STANDARD_VARIABLES,
        detectors=DetectorSettings(),
        rules=RuleSettings(),
        validation=ValidationSettings(),
        clock=stamped,
        registry=StationRegistry(),
        store=None,
        no_data=NoDataSettings(),
        stamped=stamped,
    )
    opened = []
    analytics.alert_listeners.append(opened.append)
    for batch in range(0, 180, 20):
        observations = [
            reading(s, START + m * MINUTE, temperature_c=9.0)
            for m in range(batch, batch + 20)
            for s in "ab"
        ]
        analytics.process(Delivery(observations, [], sent_at=now + batch))
        analytics.tick()
    assert opened == []


def test_a_replay_opens_a_silence_at_its_own_time_as_before():
    """A replay's clock is its data's: settled in steps of it, a station that stops in the
    middle of one large batch is silent from the step past its allowance."""
    replayed = ObservedClock(START)
    analytics = Analytics(
        variables=STANDARD_VARIABLES,
        detectors=DetectorSettings(),
        rules=RuleSettings(),
        validation=ValidationSettings(),
        clock=replayed,
        registry=StationRegistry(),
        store=None,
        no_data=NoDataSettings(),
        follow=replayed,
        future_clock=LatestClock(replayed, SystemClock()),
    )
    observations = [
        reading(s, START + i * MINUTE, temperature_c=9.0)
        for i in range(180)
        for s in ("ab" if i < 60 else "b")
    ]
    analytics.process(Delivery(observations, []))
    (alert,) = [a for a in analytics.alerts.alerts() if a.rule == "no_data"]
    assert (alert.station_id, alert.variable) == ("a", "*")
    assert START + 59 * MINUTE + 30 * MINUTE < alert.opened_at <= START + 59 * MINUTE + 32 * MINUTE


def test_a_sensor_still_out_when_a_backfill_catches_up_is_told_then_one_out_and_back_never():
    """Temperature out from 2 h ago to the end, pressure out for an hour in the history and
    back since: once the caught-up readings reach the present, the station's own readings
    show the temperature out (told then, since its last reading); the pressure's old gap is
    no silence now."""
    now = START + 3 * 3600
    clock = FixedClock(now)
    analytics = worker(clock)
    for batch in range(0, 180, 20):
        clock.advance(1.0)
        observations = []
        for m in range(batch, batch + 20):
            values = {"humidity_pct": 80.0}
            if m < 60:
                values["temperature_c"] = 9.0
            if not 20 <= m < 80:
                values["pressure_hpa"] = 1000.0
            observations.append(reading("a", START + m * MINUTE, **values))
        analytics.process(Delivery(observations, []))
        analytics.tick()
        caught_up_to_now = clock.now() - (START + (batch + 19) * MINUTE) <= 30 * MINUTE
        expected = {("a", "temperature_c", "active")} if caught_up_to_now else set()
        assert no_data_alerts(analytics) == expected, batch
    (alert,) = [a for a in analytics.alerts.alerts() if a.rule == "no_data"]
    assert alert.value == alert.updated_at - (START + 59 * MINUTE)  # since its last reading
