"""Checks a reading cannot pass alone: station pressure against the station's height, station
against sea-level pressure, a gust against the mean wind. Crafted series, hand-worked bounds."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mass_tui.evaluation.runner import run_chunks
from mass_tui.settings_layers import load_settings
from pipeline.detectors import DetectorBank
from pipeline.detectors.consistency import column_ratio_range, station_pressure_range
from pipeline.frame import ObservationFrame
from pipeline.maintenance import INCONSISTENT
from pipeline.observation import Observation
from pipeline.settings import DetectorSettings, RuleSettings
from pipeline.stations import Station
from pipeline.variables import STANDARD_VARIABLES

NAMES = [v.name for v in STANDARD_VARIABLES]
WEATHER = {"pressure_fall", "gust", "rapid_change"}
T0 = 1_767_225_600.0


def run(columns: dict[str, list[float]], elevation: float, spacing_s: float = 600.0):
    n = len(next(iter(columns.values())))
    table = np.full((n, len(NAMES)), np.nan)
    for name, values in columns.items():
        table[:, NAMES.index(name)] = values
    frame = ObservationFrame(np.zeros(n, dtype=np.int64), np.arange(n) * spacing_s, table)
    bank = DetectorBank(STANDARD_VARIABLES, DetectorSettings(), RuleSettings())
    return bank.process(frame, ["stn"], elevations=[elevation])


def test_the_plausible_station_pressure_follows_the_height_by_hand():
    low, high = station_pressure_range(np.array([0.0, 2317.0]))
    assert low[0] == pytest.approx(850.0) and high[0] == pytest.approx(1090.0)
    # exp(-h g / (R T)) for columns at 220 K and 330 K: g/R = 9.80665 / 287.05 K/m.
    assert low[1] == pytest.approx(850.0 * math.exp(-2317 * 9.80665 / 287.05 / 220.0))
    assert high[1] == pytest.approx(1090.0 * math.exp(-2317 * 9.80665 / 287.05 / 330.0))
    assert 590 < low[1] < 600 and 850 < high[1] < 860  # Alamosa reads 773-779 hPa
    cold, hot = column_ratio_range(np.array([-430.0]))  # the Dead Sea shore
    assert cold[0] > 1.0 and hot[0] > 1.0


def test_a_592_hpa_first_reading_at_a_low_station_is_implausible_and_no_baseline():
    pressures = [592.0] + [1012.0 + 0.1 * i for i in range(30)]
    result = run({"pressure_hpa": pressures}, elevation=7.0)
    found = [(a.detector, a.value) for a in result.anomalies]
    assert found == [("implausible", 592.0)]  # the sound readings after it are no "step"
    assert result.suspect is not None and result.suspect[0, NAMES.index("pressure_hpa")]
    assert result.suspect.sum() == 1


def test_where_the_height_is_unknown_only_the_variables_range_applies():
    pressures = [592.0] * 3
    assert not run({"pressure_hpa": pressures}, elevation=math.nan).anomalies


def test_a_high_station_reading_its_ordinary_pressure_passes_and_sea_level_pressure_does_not():
    ordinary = [775.0 + 0.1 * math.sin(i) for i in range(40)]
    assert not run({"pressure_hpa": ordinary}, elevation=2317.0).anomalies
    # A logger that writes sea-level pressure in the station pressure column.
    result = run({"pressure_hpa": [1013.0] * 3}, elevation=2317.0)
    assert [a.detector for a in result.anomalies] == ["implausible"]  # one run, told once


def test_station_and_sea_level_pressure_that_disagree_are_both_inconsistent():
    # 300 m up: station pressure about 3.5 % below sea level (980 against 1015 is coherent).
    coherent = run({"pressure_hpa": [980.0] * 3, "pressure_msl_hpa": [1015.0] * 3}, 300.0)
    assert not coherent.anomalies
    # The station reading copied into the sea-level column.
    copied = run({"pressure_hpa": [980.0] * 3, "pressure_msl_hpa": [980.0] * 3}, 300.0)
    assert {(a.detector, a.variable) for a in copied.anomalies} == {
        ("inconsistent", "pressure_hpa"),
        ("inconsistent", "pressure_msl_hpa"),
    }
    assert all(a.score > 0.5 for a in copied.anomalies)


def test_a_gust_below_the_mean_wind_holds_both_and_names_both():
    wind = [8.0, 8.2, 30.0, 8.1]  # the anemometer's third reading is wrong; or the gust's
    gust = [11.0, 11.5, 12.0, 11.0]
    result = run({"wind_speed_ms": wind, "wind_gust_ms": gust}, math.nan)
    found = {(a.detector, a.variable, a.value) for a in result.anomalies}
    assert found == {
        ("inconsistent", "wind_speed_ms", 30.0),
        ("inconsistent", "wind_gust_ms", 12.0),
    }
    suspect = result.suspect
    assert suspect is not None
    assert suspect[2, NAMES.index("wind_speed_ms")] and suspect[2, NAMES.index("wind_gust_ms")]
    assert suspect.sum() == 2
    # Within the tolerance (a gust a little below the mean of another period) passes.
    close = run({"wind_speed_ms": [8.0, 9.0], "wind_gust_ms": [7.5, 8.1]}, math.nan)
    assert not close.anomalies


def test_a_gust_sensor_stuck_low_under_a_gale_is_no_gust_warning_but_maintenance(tmp_path: Path):
    station = Station("t1", "Test", 45.0, 7.0, 200.0)
    observations = []
    for h in range(60):
        wind = 6.0 + 3.0 * math.sin(h / 4.0)
        values = {
            "temperature_c": 10.0 + 4.0 * math.sin(2 * math.pi * h / 24),
            "pressure_hpa": 990.0 + 0.2 * math.sin(h / 5.0),
            "wind_speed_ms": round(wind, 1),
            "wind_gust_ms": 2.0 if 30 <= h < 40 else round(wind * 1.5, 1),  # broken, mended
        }
        observations.append(Observation("t1", "Test", 45.0, 7.0, T0 + h * 3600, "test", values))
    loaded = load_settings(config_path=None)
    outcome = run_chunks(loaded, [station], [(o.observed_at, [o]) for o in observations])
    assert not [a for a in outcome.alerts if a.rule in WEATHER]
    kinds = {(a.detector, a.variable) for a in outcome.anomalies}
    assert ("inconsistent", "wind_gust_ms") in kinds
    assert ("inconsistent", "wind_speed_ms") in kinds
    # Ten hours of inconsistent pairs: told once per variable, at the first; an advisory
    # while it lasts, cleared once the gust is sound again.
    told = [a for a in outcome.anomalies if a.detector == "inconsistent"]
    assert sorted(a.variable for a in told) == ["wind_gust_ms", "wind_speed_ms"]
    assert all(a.observed_at == T0 + 30 * 3600 for a in told)
    maintenance = [a for a in outcome.alerts if a.rule == INCONSISTENT]
    assert maintenance and all(a.severity == "advisory" for a in maintenance)
    cleared = [a for a in maintenance if a.state == "cleared"]
    assert {a.variable for a in cleared} == {"wind_gust_ms", "wind_speed_ms"}
    assert all(T0 + 40 * 3600 <= a.cleared_at <= T0 + 42 * 3600 for a in cleared)


def test_a_long_inconsistent_spell_is_no_gap_and_leaves_no_stale_baseline():
    rng = np.random.default_rng(3)
    n = 400  # 10-minute readings, 66 hours
    hours = np.arange(n) / 6.0
    station = 980.0 + 0.8 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 0.03, n)
    sea_level = station / math.exp(-300 / 8400)
    sea_level[150:230] += 25.0  # a sea-level reduction gone wrong for 13 hours
    result = run({"pressure_hpa": station, "pressure_msl_hpa": sea_level}, 300.0)
    kinds = {(a.detector, a.variable) for a in result.anomalies}
    assert ("inconsistent", "pressure_hpa") in kinds
    assert ("inconsistent", "pressure_msl_hpa") in kinds
    others = {kind for kind in kinds if kind[0] not in ("inconsistent", "step", "spike")}
    assert not others  # no gap when it ends, no EWMA on a 13-hour-old baseline
    assert result.suspect is not None
    assert result.suspect[150:230].all(axis=0)[[NAMES.index("pressure_hpa")]].all()
