"""A new detector is its own module plus catalogue entries: this module is one.

It declares a toy "heat" rule (the temperature itself, against an advisory and a warning
level) the way a real detector would, with its settings table, its batch statistic and its
catalogue entries, and edits no pipeline module: the bank runs it, the threshold table applies
its thresholds to the variables its settings name and only to those, and its anomalies and
scores come out beside the built-in detectors', which it leaves exactly as they were.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec
import numpy as np
import pytest
from test_detectors_batches import IDS, SETTINGS, eventful_frame

from pipeline.detector_axis import axis_of
from pipeline.detectors import DetectorBank
from pipeline.frame import ObservationFrame
from pipeline.settings import DetectorSettings, Positive, RuleSettings, Strict
from pipeline.threshold_catalogue import CATALOGUE, Detector, Parameter
from pipeline.variables import STANDARD_VARIABLES, VariableSpec

# -- the detector: what its own module would hold ----------------------------------------------


class HeatSettings(Strict):
    enabled: bool = True
    variables: list[str] = msgspec.field(default_factory=lambda: ["temperature_c"])
    advisory_c: Positive = 30.0
    warning_c: Positive = 35.0


class HeatRules(RuleSettings):
    """The rules table with the heat rule's (in pipeline.settings, for a real detector)."""

    heat: HeatSettings = msgspec.field(default_factory=HeatSettings)


class HeatStatistic:
    """The heat rule's batch statistic: the reading itself. No window, so nothing to keep
    per station and nothing a sensor step would leave behind."""

    relearn_s = 0.0

    def __init__(
        self,
        variables: Sequence[VariableSpec],
        columns: Mapping[str, list[int]],
        detectors: DetectorSettings,
        rules: RuleSettings,
    ) -> None:
        self.columns = columns["heat"]

    def statistics(
        self, station: np.ndarray, time: np.ndarray, values: np.ndarray, starts: np.ndarray
    ) -> list[tuple[str, list[int], np.ndarray]]:
        return [("heat", self.columns, values[:, self.columns])] if self.columns else []

    def grow(self, capacity: int) -> None:
        """Stateless: no room to make."""

    def keep_stations(self, kept: np.ndarray) -> None:
        """Stateless: nothing to drop."""


HEAT_CATALOGUE = CATALOGUE.extended(
    Detector(
        "heat",
        "rule",
        "named",
        "heat",
        named_by="rules.heat.variables",
        source=f"{__name__}:HeatStatistic",
    ),
    Parameter("heat", "advisory_c", "rules.heat.advisory_c", "°C", 0.5, per_variable=False,
              level="alarm"),
    Parameter("heat", "warning_c", "rules.heat.warning_c", "°C", 0.5, per_variable=False,
              level="warning", not_below="advisory_c"),
)  # fmt: skip

# -- what the pipeline does with it ------------------------------------------------------------

NAMES = [v.name for v in STANDARD_VARIABLES]
HOUR = 3600.0
# Up a degree an hour from 20 to 37 °C, down to 25, up again to 31: heat advisory at 30,
# warning at 35, re-armed below 30 on the way down, advisory again at 30.
TEMPERATURE = np.concatenate(
    [np.arange(20.0, 38.0), np.arange(36.0, 24.0, -1), np.arange(26.0, 32.0)]
)


def heat_frame() -> ObservationFrame:
    """One station: the temperature above, humidity wandering, the rest missing."""
    values = np.full((len(TEMPERATURE), len(NAMES)), np.nan)
    values[:, NAMES.index("temperature_c")] = TEMPERATURE
    values[:, NAMES.index("humidity_pct")] = 60.0 + 5.0 * np.sin(np.arange(len(TEMPERATURE)))
    times = np.arange(len(TEMPERATURE)) * HOUR
    return ObservationFrame(np.zeros(len(times), dtype=np.int64), times, values)


def heat_bank(rules: RuleSettings | None = None) -> DetectorBank:
    return DetectorBank(
        STANDARD_VARIABLES, DetectorSettings(), rules or HeatRules(), HEAT_CATALOGUE
    )


def test_the_bank_runs_a_detector_declared_outside_the_pipeline_and_reports_its_events():
    bank = heat_bank()
    result = bank.process(heat_frame(), ["a"], want_scores=True)
    heat = [a for a in result.anomalies if a.detector == "heat"]
    assert [(a.value, a.severity, a.threshold) for a in heat] == [
        (30.0, "advisory", 30.0),
        (35.0, "warning", 35.0),
        (30.0, "advisory", 30.0),
    ]
    assert all(a.variable == "temperature_c" and a.quantity == a.value for a in heat)
    assert result.scores is not None and result.statistics is not None
    t, h = NAMES.index("temperature_c"), NAMES.index("humidity_pct")
    np.testing.assert_array_equal(result.statistics["heat"][:, t], TEMPERATURE)
    assert np.isnan(result.statistics["heat"][:, h]).all()  # a variable it does not watch
    np.testing.assert_allclose(result.scores["heat"][:, t], TEMPERATURE / (TEMPERATURE + 30.0))
    assert bank.holding_rules(["a"]) == {("a", "heat", "temperature_c")}  # 31 °C at the end


def test_its_thresholds_apply_to_the_variables_its_settings_name_and_are_edited_like_any():
    bank = heat_bank()
    heat = [t for t in bank.thresholds("temperature_c") if t.detector == "heat"]
    assert [(t.parameter, t.value, t.unit, t.step) for t in heat] == [
        ("advisory_c", 30.0, "°C", 0.5),
        ("warning_c", 35.0, "°C", 0.5),
    ]
    assert not [t for t in bank.thresholds("humidity_pct") if t.detector == "heat"]
    with pytest.raises(ValueError, match="does not apply to 'humidity_pct'"):
        bank.set_threshold("heat", "advisory_c", "humidity_pct", 31.0)
    with pytest.raises(ValueError, match=r"above heat\.warning_c"):
        bank.set_threshold("heat", "advisory_c", "temperature_c", 36.0)
    bank.set_threshold("heat", "advisory_c", "temperature_c", 33.0)
    heat = [a for a in bank.process(heat_frame(), ["a"]).anomalies if a.detector == "heat"]
    assert [(a.value, a.severity) for a in heat] == [(33.0, "advisory"), (35.0, "warning")]
    assert HEAT_CATALOGUE.short_label("heat", "warning_c") == "heat warn ≥"


def test_settings_switch_it_off_or_point_it_elsewhere():
    off = heat_bank(HeatRules(heat=HeatSettings(enabled=False)))
    result = off.process(heat_frame(), ["a"], want_scores=True)
    assert not [a for a in result.anomalies if a.detector == "heat"]
    assert result.scores is not None and np.isnan(result.scores["heat"]).all()
    assert not [t for t in off.thresholds("temperature_c") if t.detector == "heat"]
    humid = heat_bank(HeatRules(heat=HeatSettings(variables=["humidity_pct", "dew_point_c"])))
    assert [t.parameter for t in humid.thresholds("humidity_pct") if t.detector == "heat"] == [
        "advisory_c",
        "warning_c",
    ]
    assert not [t for t in humid.thresholds("temperature_c") if t.detector == "heat"]


def test_the_built_in_detectors_give_exactly_what_they_give_without_it():
    # Four stations with faults, holes, a long silence and a front; the heat rule set low
    # enough to fire among them.
    frame = eventful_frame(seed=1)
    plain = DetectorBank(STANDARD_VARIABLES, SETTINGS, RuleSettings())
    warm = HeatRules(heat=HeatSettings(advisory_c=15.5, warning_c=17.0))
    with_heat = DetectorBank(STANDARD_VARIABLES, SETTINGS, warm, HEAT_CATALOGUE)
    for start in range(0, len(frame), 250):
        batch = frame.take(np.arange(start, min(start + 250, len(frame))))
        expected = plain.process(batch, IDS, want_scores=True)
        got = with_heat.process(batch, IDS, want_scores=True)
        assert [a for a in got.anomalies if a.detector != "heat"] == expected.anomalies
        assert expected.scores is not None and got.scores is not None
        assert list(got.scores) == [*expected.scores, "heat"]
        for name, scores in expected.scores.items():
            assert scores.tobytes() == got.scores[name].tobytes(), name
        assert with_heat.frozen_series(IDS) == plain.frozen_series(IDS)
        holding = {h for h in with_heat.holding_rules(IDS) if h[1] != "heat"}
        assert holding == plain.holding_rules(IDS)
    assert with_heat.holding_rules(IDS) - plain.holding_rules(IDS)  # heat held somewhere


def test_a_catalogue_may_not_move_the_core_or_give_a_new_detector_to_it():
    core_like = Detector("heat", "edge", "statistical", "heat")  # source: the core's rounds
    with pytest.raises(ValueError, match="statistical core computes"):
        axis_of(CATALOGUE.extended(core_like))
    calibrated = Detector("heat", "calibrated", "statistical", "heat", source="m:f")
    with pytest.raises(ValueError, match="only the core's detectors are calibrated"):
        axis_of(CATALOGUE.extended(calibrated))
