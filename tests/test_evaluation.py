"""``mass-tui evaluate``: its measures against values worked by hand, its fault injection, and
the command itself on the real records."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mass_tui.evaluation.matching import match
from mass_tui.evaluation.ranking import average_precision, roc_auc, windowed_gaussian
from mass_tui.evaluation.real import REAL_RECORDS, inject, load_record, read_labels, splices
from pipeline.anomaly import Anomaly
from pipeline.simulation.station_simulator import LabelledEvent

MASS_TUI = Path(sys.executable).parent / "mass-tui"


def anomaly(detector: str, at: float, station: str = "s", variable: str = "temperature_c"):
    return Anomaly(
        station_id=station,
        variable=variable,
        value=0.0,
        detector=detector,
        score=0.6,
        threshold=1.0,
        observed_at=at,
        statistic=2.0,
    )


def test_roc_auc_counts_pairs_and_ties_half():
    # Positives 0.9 and 0.7 against negatives 0.8, 0.6, 0.5: 5 of the 6 pairs are ordered.
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    labels = np.array([True, False, True, False, False])
    assert roc_auc(scores, labels) == pytest.approx(5 / 6)
    # A tie between a positive and a negative is half a pair: (0.5 + 1) / 2.
    assert roc_auc(np.array([0.5, 0.5, 0.1]), np.array([True, False, False])) == 0.75
    assert math.isnan(roc_auc(np.array([1.0, 2.0]), np.array([False, False])))


def test_average_precision_steps_through_recall():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    labels = np.array([True, False, True, False, False])
    # Recall 1/2 at precision 1, recall 2/2 at precision 2/3.
    assert average_precision(scores, labels) == pytest.approx((1 + 2 / 3) / 2)
    # Tied rows enter together: the positive tied with a negative has precision 1/2.
    assert average_precision(np.array([0.5, 0.5, 0.1]), np.array([True, False, False])) == 0.5


def test_windowed_gaussian_measures_against_the_previous_rows_only():
    values = np.array([1.0, 2.0, 3.0, 10.0, 3.0])
    scores = windowed_gaussian(values, window=3)
    assert scores[:3].tolist() == [0.0, 0.0, 0.0]
    # Row 3 against 1, 2, 3: mean 2, sample sd 1.
    assert scores[3] == pytest.approx(8.0)
    # Row 4 against 2, 3, 10: mean 5, sample sd sqrt(19).
    assert scores[4] == pytest.approx(2.0 / math.sqrt(19.0))
    assert windowed_gaussian(np.full(10, 4.0), window=3).tolist() == [0.0] * 10


def test_match_judges_events_by_the_detectors_that_report_them():
    front = LabelledEvent("frontal_passage", "s", "*", 1000.0, 2000.0, 8.0)
    spike = LabelledEvent("spike", "s", "temperature_c", 5000.0, 5000.0, 10.0)
    missed = LabelledEvent("stuck", "s", "humidity_pct", 7000.0, 8000.0, 50.0)
    anomalies = [
        anomaly("zscore", 1200.0),  # explained by the front, but a z-score is not a warning
        anomaly("pressure_fall", 1500.0, variable="pressure_hpa"),  # the front, found
        anomaly("spike", 5000.0),  # the spike, found at once
        anomaly("ewma", 9000.0 + 10_000),  # nothing explains it
    ]
    matched = match(
        [front, spike, missed], anomalies, grace=100.0, run=(0.0, 20_000.0), station_days=2.0
    )
    figures = matched.as_dict()
    assert figures["false_alarms"] == 1
    assert figures["false_alarms_per_station_day"] == 0.5
    assert figures["precision"] == 0.75
    assert figures["recall"] == pytest.approx(2 / 3, abs=1e-4)
    kinds = figures["by_kind"]
    assert kinds["frontal_passage"]["detected"] == 1
    assert kinds["frontal_passage"]["median_delay_s"] == 500.0
    assert kinds["spike"]["median_delay_s"] == 0.0
    assert kinds["stuck"] == {**kinds["stuck"], "events": 1, "detected": 0, "recall": 0.0}
    # The front's window runs from 1000 to its end plus the grace, 2100: found at 1500 is
    # y = (1500 - 2100) / 1100; the spike's at its start (y = -1); one miss, one false alarm.
    early = [2 / (1 + math.exp(5 * y)) - 1 for y in ((1500 - 2100) / 1100, -1.0)]
    raw = sum(early) - 1.0 - 0.11
    perfect = 3 * (2 / (1 + math.exp(-5)) - 1)
    assert figures["windowed_score"] == pytest.approx(100 * (raw + 3) / (perfect + 3), abs=0.05)


def test_match_does_not_judge_events_cut_off_by_the_run_or_seams():
    cut = LabelledEvent("spike", "s", "temperature_c", -10.0, -10.0, 1.0)
    seam = LabelledEvent("splice", "s", "*", 100.0, 200.0, 0.0)
    matched = match(
        [cut, seam], [anomaly("rapid_change", 150.0)], grace=0.0, run=(0.0, 1e4), station_days=1.0
    )
    assert matched.false_alarms == 0  # the seam explains it
    assert sum(f.events for f in matched.by_kind.values()) == 0


def test_injected_faults_change_only_what_their_labels_say():
    record = REAL_RECORDS[1]  # Greensboro, hourly, a year
    clean = load_record(record)
    faulted, labels = inject(record, clean)
    assert {label.kind for label in labels} == {"spike", "stuck", "step"}
    changed = {
        (i, name)
        for i, (a, b) in enumerate(zip(clean, faulted, strict=True))
        for name in a.values
        if a.values[name] != b.values[name]
    }
    spikes = [label for label in labels if label.kind == "spike"]
    for label in spikes:  # one reading each, moved by the label's magnitude
        (row,) = [i for i, o in enumerate(clean) if o.observed_at == label.start]
        assert faulted[row].values[label.variable] == clean[row].values[label.variable] + (
            label.magnitude
        )
    (stuck,) = [label for label in labels if label.kind == "stuck"]
    held = {o.values["wind_dir_deg"] for o in faulted if stuck.start <= o.observed_at <= stuck.end}
    assert len(held) == 1
    for i, name in changed:
        when = clean[i].observed_at
        assert any(lab.variable == name and lab.start <= when <= lab.end for lab in labels), (
            i,
            name,
        )


def test_the_typical_year_seams_are_every_month_boundary():
    seams = splices(REAL_RECORDS[1])
    assert len(seams) == 11
    # 1 November, 00:00 local standard time (UTC-5), 6 hours either side.
    assert any(s.start + 6 * 3600 == 1004590800.0 for s in seams)
    assert splices(REAL_RECORDS[2]) == []
    labelled = [e for e in read_labels(REAL_RECORDS[1]) if e.kind == "pressure_fall"]
    assert len(labelled) == 6


def test_evaluate_command_on_every_corpus():
    done = subprocess.run(
        [str(MASS_TUI), "evaluate", "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parent,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    simulated = report["simulator"]
    assert simulated["stations"] == 4 and simulated["observations"] == 4 * 1440
    assert 0 <= simulated["recall"] <= 1 and 0 <= simulated["precision"] <= 1
    real = {record["record"]: record for record in report["real"]}
    assert set(real) == {record.file for record in REAL_RECORDS}
    for record in real.values():
        # A sensor fault is a sensor fault: reported as one, never as weather.
        reported, injected = map(int, record["faults_reported_as_sensor_faults"].split("/"))
        assert injected >= 3 and reported == injected, record
        assert record["weather_alarms_caused_by_faults"] == 0, record
    greensboro = real["tmy3_723170_greensboro_hourly.csv.gz"]
    assert greensboro["labelled_events"]["pressure_fall"]["detected"] == 6
    assert greensboro["statistical_per_station_day"] <= 0.2
    for figures in report["generic"].values():
        assert 0 <= figures["roc_auc"] <= 1 and 0 <= figures["baseline_roc_auc"] <= 1
