"""A station that stops reporting is an alert while it is silent, not only once it resumes;
one variable that stops while the rest go on is an alert of that variable; a variable
reported only when there is something to report (gusts, rain) is never "silent"."""

from __future__ import annotations

from pipeline.batch_processing import Analytics
from pipeline.bus import Delivery
from pipeline.clock import FixedClock
from pipeline.observation import Observation
from pipeline.registry import StationRegistry
from pipeline.settings import (
    DetectorSettings,
    NoDataSettings,
    RuleSettings,
    ValidationSettings,
)
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
