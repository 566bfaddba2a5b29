"""What the console shows, from its pure builders (mass_tui.view, mass_tui.focus_view) over
a real pipeline's snapshot and a view state, without a running app; and that a refresh
tick asks the pipeline for one snapshot and nothing else."""

from __future__ import annotations

from dataclasses import replace

import msgspec
import numpy as np
import pytest

from mass_tui.focus_view import amount_text, chart, panels, selected_threshold, threshold_label
from mass_tui.view import ConsoleView, alert_text, log_rows, status_line, units_text
from pipeline.health import WorkerHealth
from pipeline.maintenance import FROZEN, SPIKING
from pipeline.threshold_catalogue import CATALOGUE, ThresholdKey
from tests.conftest import make_console
from widgets.station_list import SPARK_CELLS

SIZE = (120, 40)


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    return make_console(tmp_path_factory.mktemp("view"))


def snapshot_of(console, view: ConsoleView):
    return console.pipeline.snapshot(view.variable, SPARK_CELLS, focus=view.station_id)


def test_the_status_line_names_problems_and_the_zone_of_the_selected_station(fed):
    view = ConsoleView("nyc", "temperature_c")
    snap = snapshot_of(fed, view)
    assert status_line(snap, view, "embedded").clock == "2026-01-01 05:29:00Z"
    local = status_line(snap, replace(view, time_shown="station"), "embedded")
    assert local.clock.endswith("EST") and " 00:29:00" in local.clock
    snap.health.append(WorkerHealth("store", "failing", "disk full"))
    assert status_line(snap, view, "").problems == ("store failing: disk full",)


def test_units_text_names_a_preset_or_the_units_that_differ_from_metric():
    assert units_text("imperial") == "imperial"
    assert units_text({"speed": "kn", "temperature": "°C"}) == "kn"
    assert units_text({"temperature": "°C"}) == "metric"


def test_the_log_shows_each_event_once_at_its_peak_newest_first(fed):
    view = ConsoleView("lon", "temperature_c")
    snap = snapshot_of(fed, view)
    rows, keyed = log_rows(snap.anomalies, snap, view)
    assert len(rows) == len(keyed) == len({r.key for r in rows})
    times = [keyed[r.key].observed_at for r in rows]
    assert times == sorted(times, reverse=True)
    # Told twice (a rise, then its peak): one row, the later telling.
    first = snap.anomalies[-1]
    peak = msgspec.structs.replace(first, value=first.value + 1.0)
    rows, keyed = log_rows([first, peak], snap, view)
    assert len(rows) == 1 and keyed[rows[0].key] is peak


def test_alert_texts_say_what_each_rule_means(fed):
    snap = fed.pipeline.snapshot()
    fall = next(a for a in snap.alerts if a.rule == "pressure_fall")
    variables = snap.variables
    assert alert_text(fall, variables, "metric", 24).endswith("hPa")
    assert "fell" in alert_text(fall, variables, "metric", 24)
    assert alert_text(fall, variables, "imperial", 24).endswith("inHg")
    frozen = replace(fall, rule=FROZEN, quantity=40.0)
    assert alert_text(frozen, variables, "metric", 24).endswith("sensor frozen, 40 repeats")
    spiking = replace(fall, rule=SPIKING, quantity=5.0)
    assert alert_text(spiking, variables, "metric", 6).endswith("sensor spiking, 5 in 6.0 h")
    # A change of temperature is a difference: 10 °C is 18 °F, not 50 °F.
    warmed = replace(fall, rule="rapid_change", variable="temperature_c", quantity=10.0)
    assert alert_text(warmed, variables, "imperial", 24) == "Temp Δ 18.0 °F"


def test_statistics_and_thresholds_show_in_their_units():
    """σ, samples and spacings as they are; a rule's amounts in the variable's display unit
    (the detail view showed ``29.66 inHg`` beside ``threshold 6``)."""
    assert amount_text(6.0, CATALOGUE.statistic_unit("zscore"), "hPa", "imperial") == "6 σ"
    assert amount_text(3.521, CATALOGUE.statistic_unit("ewma"), "m/s", "metric") == "3.52 σ"
    assert amount_text(15, CATALOGUE.statistic_unit("stuck"), "°", "metric") == "15 samples"
    fall = CATALOGUE.statistic_unit("pressure_fall")
    assert amount_text(6.0, fall, "hPa", "imperial") == "0.177 inHg"
    assert amount_text(20.6, CATALOGUE.statistic_unit("gust"), "m/s", "imperial") == "46.08 mph"
    # quality control's jumps, which the catalogue does not hold: the variable's amounts
    assert amount_text(10.0, CATALOGUE.statistic_unit("spike"), "°C", "imperial") == "18.00 °F"


def test_panels_come_from_the_focus_and_highlight_recent_anomalies(fed):
    view = ConsoleView("lon", "pressure_msl_hpa")
    snap = snapshot_of(fed, view)
    shown = {p.variable: p for p in panels(snap, view)}
    assert list(shown) == [v.name for v in snap.variables]
    assert shown["pressure_msl_hpa"].anomalous  # London's front: its fall warning is open
    assert shown["pressure_msl_hpa"].threshold.startswith("fall ≥")  # the rule, by default
    assert shown["pressure_msl_hpa"].value.endswith("hPa")
    snap.focus = None
    assert panels(snap, view) == []


def test_a_threshold_chosen_in_the_editor_is_the_one_shown_and_stepped(fed):
    view = ConsoleView("lon", "pressure_msl_hpa")
    snap = snapshot_of(fed, view)
    thresholds = snap.thresholds["pressure_msl_hpa"]
    assert selected_threshold(view, thresholds).detector == "pressure_fall"
    zscore = ThresholdKey("zscore", "threshold", "pressure_msl_hpa")
    chosen = replace(view, chosen_thresholds={"pressure_msl_hpa": zscore})
    picked = selected_threshold(chosen, thresholds)
    assert picked.key == zscore
    spec = next(v for v in snap.variables if v.name == "pressure_msl_hpa")
    assert threshold_label(picked, spec, "metric").startswith("z ≥")


def test_the_chart_keeps_the_span_and_marks_its_anomalies_in_display_units(fed):
    view = ConsoleView("lon", "pressure_msl_hpa", span_index=0, units="imperial")
    snap = snapshot_of(fed, view)
    column = [v.name for v in snap.variables].index("pressure_msl_hpa")
    data = chart(
        snap, view, snap.focus.times, snap.focus.values[:, column], fed.loaded.settings.detectors
    )
    assert data.unit == "inHg" and "last 15 min" in data.title
    assert data.times.min() >= snap.now - 900
    assert np.nanmax(data.values) < 40  # inches of mercury, not hectopascals
    for at, _ in data.markers:
        assert at >= snap.now - 900


async def test_a_refresh_tick_asks_the_pipeline_for_one_snapshot_only(tmp_path):
    """The screen's whole tick is one ``snapshot()`` call: no per-widget reads of the series,
    z-scores or thresholds (each took the pipeline's locks once more)."""
    console = make_console(tmp_path, steps=30, deterministic=True)
    pipeline = console.pipeline
    calls: list[str] = []  # the screen's calls, not the pipeline's own within them
    inside = [0]
    for name in ("snapshot", "recent_series", "latest_zscores", "thresholds"):
        real = getattr(pipeline, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            if not inside[0]:
                calls.append(_name)
            inside[0] += 1
            try:
                return _real(*args, **kwargs)
            finally:
                inside[0] -= 1

        setattr(pipeline, name, counted)
    async with console.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        calls.clear()
        console.app.main.refresh_now()
        assert calls == ["snapshot"]
