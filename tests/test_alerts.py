from pipeline.alerts import AlertBook
from pipeline.anomaly import Anomaly


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
    from pipeline.persistence import PersistenceWatch

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
