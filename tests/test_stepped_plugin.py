"""A new detector whose state recurs reading by reading is its own module plus catalogue
entries: this module is one.

It declares a toy "jump" detector (the largest change between consecutive readings since
the series last restarted, against a per-variable threshold) the way a real one would, with
its settings table, its stepped statistic keeping two slots per series, and its catalogue
entries, and edits no pipeline module: the bank steps it in the rounds, its thresholds apply
and are edited like any, a restart returns its slots to their initial values, and its
anomalies and statistics come out beside the built-in detectors', which it leaves exactly as
they were.
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
from pipeline.settings import DetectorSettings, DiurnalSettings, Positive, RuleSettings, Strict
from pipeline.threshold_catalogue import CATALOGUE, Catalogue, Detector, Parameter
from pipeline.variables import STANDARD_VARIABLES, VariableSpec

# -- the detector: what its own module would hold ----------------------------------------------


class JumpSettings(Strict):
    enabled: bool = True
    threshold: Positive = 2.0
    thresholds: dict[str, Positive] = {}


class JumpDetectors(DetectorSettings):
    """The detectors table with the jump detector's (in pipeline.settings, for a real one)."""

    jump: JumpSettings = msgspec.field(default_factory=JumpSettings)


LAST, PEAK = 0, 1  # its slots: the previous reading, the largest jump since the restart


class JumpStatistic:
    """The running maximum of |x - previous x| of each series."""

    def __init__(
        self,
        variables: Sequence[VariableSpec],
        columns: Mapping[str, list[int]],
        detectors: DetectorSettings,
        rules: RuleSettings,
    ) -> None:
        self.n_variables = len(variables)

    def initial(self) -> np.ndarray:
        return np.full((2, self.n_variables), np.nan)  # no reading, no jump yet

    def step(self, state: np.ndarray, x: np.ndarray, t: np.ndarray, out: np.ndarray) -> None:
        last, peak = state[LAST], state[PEAK]
        np.fmax(peak, np.abs(x - last), out=peak)
        out[0] = peak
        last[...] = x


JUMP = Detector(
    "jump", "edge", "statistical", "jump", source=f"{__name__}:JumpStatistic", stepped=True
)
JUMP_CATALOGUE = CATALOGUE.extended(
    JUMP,
    Parameter("jump", "threshold", "detectors.jump.thresholds", "", 0.5, per_variable=True,
              level="alarm", fallback="detectors.jump.threshold"),
)  # fmt: skip

# -- what the pipeline does with it ------------------------------------------------------------

NAMES = [v.name for v in STANDARD_VARIABLES]
HOUR = 3600.0
# Hourly temperatures; a jump of 3 past the threshold of 2 at the fourth, then a silence of
# six hours (past max_gap_s: the series restarts) and small jumps, then one of 2.5.
TEMPERATURE = np.array([10.0, 10.5, 10.0, 13.0, 12.0, 12.5, 12.0, 12.5, 12.0, 14.5, 14.0])
TIMES = np.array([0, 1, 2, 3, 4, 5, 11, 12, 13, 14, 15]) * HOUR
PEAKS = [np.nan, 0.5, 0.5, 3.0, 3.0, 3.0, np.nan, 0.5, 0.5, 2.5, 2.5]
# Neither quality control nor the daily profile in the way of the readings' exact values.
PLAIN = JumpDetectors(
    qc=msgspec.structs.replace(SETTINGS.qc, enabled=False), diurnal=DiurnalSettings(enabled=False)
)


def jump_frame() -> ObservationFrame:
    """One station: the temperature above, the rest missing."""
    values = np.full((len(TEMPERATURE), len(NAMES)), np.nan)
    values[:, NAMES.index("temperature_c")] = TEMPERATURE
    return ObservationFrame(np.zeros(len(TIMES), dtype=np.int64), TIMES, values)


def jump_bank(detectors: DetectorSettings = PLAIN) -> DetectorBank:
    return DetectorBank(STANDARD_VARIABLES, detectors, RuleSettings(), JUMP_CATALOGUE)


def test_the_bank_steps_a_detector_declared_outside_the_pipeline_and_reports_its_events():
    result = jump_bank().process(jump_frame(), ["a"], want_scores=True)
    jumps = [a for a in result.anomalies if a.detector == "jump"]
    # Once at the jump of 3 (the running maximum holds it: no second event), and once more at
    # 2.5 after the restart returned its slots to "no jump yet" and its alarm level to none.
    assert [(a.variable, a.observed_at, a.value, a.statistic, a.threshold) for a in jumps] == [
        ("temperature_c", 3 * HOUR, 13.0, 3.0, 2.0),
        ("temperature_c", 14 * HOUR, 14.5, 2.5, 2.0),
    ]
    assert result.statistics is not None and result.scores is not None
    t = NAMES.index("temperature_c")
    np.testing.assert_array_equal(result.statistics["jump"][:, t], PEAKS)
    np.testing.assert_allclose(result.scores["jump"][:, t], np.divide(PEAKS, np.add(PEAKS, 2.0)))
    # Not where it does not apply (precipitation is not a statistical variable), nor on missing
    # readings.
    assert np.isnan(result.statistics["jump"][:, NAMES.index("precip_mm")]).all()
    assert np.isnan(result.statistics["jump"][:, NAMES.index("humidity_pct")]).all()


def test_a_missing_reading_leaves_its_slots_as_they_were():
    frame = jump_frame()
    values = np.array(frame.values)
    values[3, NAMES.index("temperature_c")] = np.nan  # the jump of 3 never read
    holed = ObservationFrame(frame.station, frame.observed_at, values)
    result = jump_bank().process(holed, ["a"], want_scores=True)
    assert result.statistics is not None
    got = result.statistics["jump"][:6, NAMES.index("temperature_c")]
    np.testing.assert_array_equal(got, [np.nan, 0.5, 0.5, np.nan, 2.0, 2.0])  # 12 after 10


def test_its_thresholds_apply_per_variable_and_are_edited_like_any():
    strict = msgspec.structs.replace(PLAIN, jump=JumpSettings(thresholds={"temperature_c": 4.0}))
    bank = jump_bank(strict)
    [threshold] = [t for t in bank.thresholds("temperature_c") if t.detector == "jump"]
    assert (threshold.parameter, threshold.value, threshold.unit) == ("threshold", 4.0, "°C")
    assert [t.value for t in bank.thresholds("pressure_hpa") if t.detector == "jump"] == [2.0]
    assert not [t for t in bank.thresholds("precip_mm") if t.detector == "jump"]
    with pytest.raises(ValueError, match="does not apply to 'precip_mm'"):
        bank.set_threshold("jump", "threshold", "precip_mm", 1.0)
    assert not [a for a in bank.process(jump_frame(), ["a"]).anomalies if a.detector == "jump"]
    edited = jump_bank(strict)
    edited.set_threshold("jump", "threshold", "temperature_c", 2.5)
    jumps = [a for a in edited.process(jump_frame(), ["a"]).anomalies if a.detector == "jump"]
    assert [(a.observed_at, a.threshold) for a in jumps] == [(3 * HOUR, 2.5), (14 * HOUR, 2.5)]
    off = jump_bank(msgspec.structs.replace(PLAIN, jump=JumpSettings(enabled=False)))
    result = off.process(jump_frame(), ["a"], want_scores=True)
    assert not [a for a in result.anomalies if a.detector == "jump"]
    assert result.statistics is not None and np.isnan(result.statistics["jump"]).all()


def test_the_built_in_detectors_give_exactly_what_they_give_without_it():
    # Four stations with faults, holes, a long silence and a front (quality control and the
    # daily profile on); the jump detector fires among them.
    frame = eventful_frame(seed=1)
    plain = DetectorBank(STANDARD_VARIABLES, SETTINGS, RuleSettings())
    with_jump = DetectorBank(
        STANDARD_VARIABLES,
        JumpDetectors(**msgspec.structs.asdict(SETTINGS)),
        RuleSettings(),
        JUMP_CATALOGUE,
    )
    jumped = 0
    for start in range(0, len(frame), 250):
        batch = frame.take(np.arange(start, min(start + 250, len(frame))))
        expected = plain.process(batch, IDS, want_scores=True)
        got = with_jump.process(batch, IDS, want_scores=True)
        jumped += len([a for a in got.anomalies if a.detector == "jump"])
        assert [a for a in got.anomalies if a.detector != "jump"] == expected.anomalies
        assert expected.scores is not None and got.scores is not None
        assert expected.statistics is not None and got.statistics is not None
        assert list(got.scores) == [*expected.scores, "jump"]
        for name, scores in expected.scores.items():
            assert scores.tobytes() == got.scores[name].tobytes(), name
            assert expected.statistics[name].tobytes() == got.statistics[name].tobytes(), name
        assert with_jump.frozen_series(IDS) == plain.frozen_series(IDS)
        assert with_jump.holding_rules(IDS) == plain.holding_rules(IDS)
        for station in range(len(IDS)):
            np.testing.assert_array_equal(
                with_jump.latest_zscore(station), plain.latest_zscore(station)
            )
    assert jumped


def test_a_catalogue_keeps_a_stepped_detectors_rows_together_and_names_its_statistic():
    with pytest.raises(ValueError, match="a stepped detector names its statistic"):
        CATALOGUE.extended(Detector("jump", "edge", "statistical", "jump", stepped=True))
    other = Detector("heat", "edge", "all", "heat", source="tests:Heat")
    second = Detector("jump2", "edge", "statistical", "j2", source=JUMP.source, stepped=True)
    split = Catalogue((*CATALOGUE.detectors, JUMP, other, second), CATALOGUE.parameters)
    with pytest.raises(ValueError, match="must be consecutive entries"):
        axis_of(split)
    assert axis_of(JUMP_CATALOGUE).stepped == (len(CATALOGUE.detectors),)
