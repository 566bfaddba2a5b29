"""A sensor fault that persists is a maintenance alert of its own kind, never a weather one:
a frozen vane, a barometer that stepped, a thermometer that keeps spiking."""

import math
from pathlib import Path

from mass_tui.evaluation.runner import run_chunks
from mass_tui.settings_layers import load_settings
from pipeline.maintenance import FROZEN, SPIKING, STEPPED
from pipeline.observation import Observation
from pipeline.stations import Station

HOUR = 3600.0
T0 = 1_767_225_600.0
STATION = Station("t1", "Test", 45.0, 7.0, 200.0)
WEATHER = {"pressure_fall", "gust", "rapid_change"}


def hourly(hours: int, change=None) -> list[Observation]:
    """Ordinary weather each hour: ``change(hour, values)`` writes a fault in."""
    observations = []
    for h in range(hours):
        values = {
            "temperature_c": round(10 + 5 * math.sin(2 * math.pi * h / 24) + 0.3 * math.sin(h), 1),
            "pressure_hpa": round(990 + 2 * math.sin(2 * math.pi * h / 100), 1),
            "wind_speed_ms": round(4 + 2 * math.sin(h / 3.0), 1),
            "wind_dir_deg": float((200 + 37 * h) % 360),
        }
        if change is not None:
            change(h, values)
        observations.append(Observation("t1", "Test", 45.0, 7.0, T0 + h * HOUR, "test", values))
    return observations


def alerts_of(observations: list[Observation], tmp_path: Path):
    loaded = load_settings(config_path=None)
    chunks = [(o.observed_at, [o]) for o in observations]
    return run_chunks(loaded, [STATION], chunks).alerts


def test_a_frozen_vane_is_a_maintenance_alert_while_it_is_frozen(tmp_path):
    def freeze(h: int, values: dict) -> None:
        if 100 <= h < 200:
            values["wind_dir_deg"] = 270.0

    alerts = alerts_of(hourly(240, freeze), tmp_path)
    frozen = [a for a in alerts if a.rule == FROZEN]
    assert frozen and frozen[0].variable == "wind_dir_deg"
    assert frozen[0].severity == "advisory"
    # Opened once the vane had been still for stuck.min_hours (24 h), cleared once it moved.
    opened = frozen[0].opened_at
    assert T0 + 124 * HOUR <= opened <= T0 + 130 * HOUR
    cleared = [a for a in frozen if a.state == "cleared"]
    assert cleared and T0 + 200 * HOUR <= cleared[0].cleared_at <= T0 + 202 * HOUR
    assert not [a for a in alerts if a.rule in WEATHER]


def test_a_barometer_step_is_a_sensor_step_not_a_pressure_fall(tmp_path):
    def step(h: int, values: dict) -> None:
        if h >= 100:
            values["pressure_hpa"] -= 44.0

    alerts = alerts_of(hourly(160, step), tmp_path)
    stepped = [a for a in alerts if a.rule == STEPPED]
    assert stepped and stepped[0].variable == "pressure_hpa"
    assert abs(stepped[0].quantity) >= 40
    assert not [a for a in alerts if a.rule in WEATHER]
    # It stays listed for sensor_faults.window_hours (24 h), then clears.
    cleared = [a for a in stepped if a.state == "cleared"]
    assert cleared and cleared[0].cleared_at - stepped[0].opened_at >= 24 * HOUR


def test_spikes_make_a_maintenance_alert_only_when_they_repeat(tmp_path):
    def spikes(at: list[int]):
        def write(h: int, values: dict) -> None:
            if h in at:
                values["temperature_c"] += 25.0

        return write

    two = alerts_of(hourly(150, spikes([60, 70])), tmp_path)
    assert not [a for a in two if a.rule == SPIKING]
    three = alerts_of(hourly(150, spikes([60, 70, 80])), tmp_path)
    spiking = [a for a in three if a.rule == SPIKING]
    assert spiking and spiking[0].variable == "temperature_c" and spiking[0].quantity == 3
    assert spiking[0].opened_at == T0 + 80 * HOUR
    assert not [a for a in three if a.rule in WEATHER]


def test_a_vane_still_through_a_calm_day_is_no_fault_but_frozen_after_three_is(tmp_path):
    def calm(h: int, values: dict) -> None:
        if 100 <= h < 140:  # a 40-hour calm: the vane rests where the wind left it
            values["wind_speed_ms"], values["wind_dir_deg"] = 0.0, 270.0

    assert not [a for a in alerts_of(hourly(200, calm), tmp_path) if a.rule == FROZEN]

    def seized(h: int, values: dict) -> None:
        if h >= 100:  # a seized anemometer reads calm, and the vane rests, for days
            values["wind_speed_ms"], values["wind_dir_deg"] = 0.0, 270.0

    frozen = [a for a in alerts_of(hourly(200, seized), tmp_path / "b") if a.rule == FROZEN]
    assert {a.variable for a in frozen} == {"wind_speed_ms", "wind_dir_deg"}
    # After stuck.bound_hours (72 h) at the bound, not after stuck.min_hours (24 h).
    assert all(T0 + 172 * HOUR <= a.opened_at <= T0 + 176 * HOUR for a in frozen)


def test_humidity_pinned_at_100_percent_for_days_is_a_frozen_sensor(tmp_path):
    def wet(h: int, values: dict) -> None:
        values["humidity_pct"] = 100.0 if h >= 50 else float(70 + 10 * math.sin(h / 3.0))

    frozen = [a for a in alerts_of(hourly(150, wet), tmp_path) if a.rule == FROZEN]
    assert [a.variable for a in frozen if a.last_transition == "opened"] == ["humidity_pct"]
    assert T0 + 122 * HOUR <= frozen[0].opened_at <= T0 + 126 * HOUR
