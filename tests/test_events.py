"""One anomaly per event: a burst of alarms on one series is its first alarm, then its peaks."""

from pipeline.anomaly import Anomaly
from pipeline.events import EventGrouper, event_key

MIN = 60.0


def alarm(detector: str, minute: float, score: float, variable="pressure_hpa", severity=None):
    return Anomaly(
        station_id="s",
        variable=variable,
        value=1.0,
        detector=detector,
        score=score,
        threshold=1.0,
        observed_at=minute * MIN,
        statistic=1.0,
        severity=severity,
    )


def test_a_burst_across_the_statistical_detectors_is_one_event_told_at_its_start_and_peaks():
    grouper = EventGrouper(gap_s=90 * MIN)
    burst = [
        alarm("zscore", 0, 0.6),
        alarm("ewma", 1, 0.55),  # lower: folded in
        alarm("cusum", 5, 0.8),  # the new peak: told, carrying the event's start
        alarm("zscore", 80, 0.7),  # lower than the peak: folded in
    ]
    told = grouper.group(burst)
    assert [(a.detector, a.event_start) for a in told] == [("zscore", None), ("cusum", 0.0)]
    assert len({event_key(a) for a in told}) == 1
    # 90 minutes after the last one, it is a new event.
    (again,) = grouper.group([alarm("ewma", 171, 0.51)])
    assert again.event_start is None and event_key(again) != event_key(told[0])


def test_series_and_kinds_make_their_own_events():
    grouper = EventGrouper(gap_s=90 * MIN)
    told = grouper.group(
        [
            alarm("zscore", 0, 0.6),
            alarm("zscore", 0, 0.6, variable="temperature_c"),
            alarm("spike", 1, 0.9),  # a sensor fault is no part of a statistical event
        ]
    )
    assert [a.event_start for a in told] == [None, None, None]


def test_an_escalation_to_a_warning_is_always_told():
    grouper = EventGrouper(gap_s=90 * MIN)
    told = grouper.group(
        [
            alarm("pressure_fall", 0, 0.7, severity="advisory"),
            alarm("pressure_fall", 30, 0.52, severity="warning"),  # lower score, higher severity
            alarm("pressure_fall", 40, 0.6, severity="advisory"),
        ]
    )
    assert [(a.severity, a.event_start) for a in told] == [("advisory", None), ("warning", 0.0)]


def test_ended_and_forgotten_events_are_let_go():
    grouper = EventGrouper(gap_s=90 * MIN)
    grouper.group([alarm("zscore", 0, 0.6)])
    grouper.close_before(60 * MIN)
    assert grouper._open
    grouper.close_before(91 * MIN)
    assert not grouper._open
    grouper.group([alarm("zscore", 200, 0.6)])
    grouper.forget(["s"])
    assert not grouper._open
