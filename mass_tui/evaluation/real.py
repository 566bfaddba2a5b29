"""Corpus (b): real station records, with weather events labelled by looking at the data and
sensor faults injected at fixed places.

The records (``records/``, origin and licence in its README) are replayed through the embedded
pipeline twice: as they are, which gives the false alarms per station-day on ordinary real
weather and whether each labelled weather event is caught; and with faults written into them
(a spike, a broken-barometer spike, a barometer step, a frozen vane), which gives whether each
fault is reported as a sensor fault and whether any fault raised a weather warning the clean
record did not.
"""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec

from mass_tui.evaluation.matching import WEATHER_RULES, family, match
from mass_tui.evaluation.runner import Outcome, run_chunks
from mass_tui.settings_layers import LoadedSettings
from pipeline.maintenance import MAINTENANCE_RULES
from pipeline.observation import Observation
from pipeline.simulation.station_simulator import LabelledEvent
from pipeline.stations import Station
from pipeline.times import parse_instant

RECORDS = Path(__file__).parent / "records"
CHUNK_ROWS = 2_000
HOUR = 3_600.0
TYPICAL_YEAR = 2001  # the year the typical-year records were written with (records/README.md)
SPLICE_HOURS = 6.0


@dataclass(frozen=True, slots=True)
class RealRecord:
    """``spliced_utc_offset``: the record is a typical year (TMY3), each month taken from a
    different year, so every month boundary (local standard time at that UTC offset, hours)
    can jump; None for a continuous record."""

    file: str
    station: Station
    cadence_s: float
    spliced_utc_offset: float | None = None


REAL_RECORDS = (
    RealRecord(
        "tmy3_703165_sand_point_hourly.csv.gz",
        Station("703165", "Sand Point AK", 55.317, -160.517, 7.0),
        HOUR,
        spliced_utc_offset=-9.0,
    ),
    RealRecord(
        "tmy3_723170_greensboro_hourly.csv.gz",
        Station("723170", "Greensboro NC", 36.1, -79.95, 273.0),
        HOUR,
        spliced_utc_offset=-5.0,
    ),
    RealRecord(
        "surfrad_alamosa_2016-01-01_1min.csv.gz",
        Station("slv", "Alamosa CO", 37.70, -105.92, 2317.0),
        60.0,
    ),
    RealRecord(
        "midc_uat_2018-10-18_1min.csv.gz",
        Station("uat", "Tucson AZ", 32.23, -110.95, 786.0),
        60.0,
    ),
)


@dataclass(frozen=True, slots=True)
class Injection:
    """A fault written into a record: from ``at`` (a fraction of the record's length) for
    ``hours`` (0: one reading), the variable is moved by ``shift``, or held (``hold``)."""

    kind: str
    variable: str
    at: float
    hours: float = 0.0
    shift: float = 0.0
    hold: bool = False


INJECTIONS = (
    Injection("spike", "temperature_c", 0.2, shift=-25.0),  # a glitch between two sound readings
    Injection("spike", "pressure_hpa", 0.35, shift=-380.0),  # a broken barometer's 600 hPa
    Injection("stuck", "wind_dir_deg", 0.55, hours=96.0, hold=True),  # a frozen vane
    # A thermometer swapped for one reading 15 degC high for two days: at hourly spacing just
    # past the step limit (12 degC), where a step once passed for a spike.
    Injection("step", "temperature_c", 0.65, hours=48.0, shift=15.0),
    Injection("step", "pressure_hpa", 0.85, hours=math.inf, shift=-44.0),  # a barometer step
)
REPORTED_AS = {
    "spike": {"spike", "implausible"},  # a 600 hPa barometer spike is impossible at sea level
    "step": {"step"},
    "stuck": {"stuck"},
}
"""The sensor checks each injected fault should be reported by."""


def load_record(record: RealRecord) -> list[Observation]:
    """The record's rows as observations of its station (empty cells are missing)."""
    station = record.station
    observations = []
    with gzip.open(RECORDS / record.file, "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            when = parse_instant(row.pop("observed_at"))
            values = {name: float(cell) for name, cell in row.items() if cell != ""}
            observations.append(
                Observation(
                    station.station_id,
                    station.name,
                    station.latitude,
                    station.longitude,
                    when,
                    "replay",
                    values,
                )
            )
    return observations


def read_labels(record: RealRecord) -> list[LabelledEvent]:
    """The events of ``records/labels.csv`` that belong to ``record``, and its splices."""
    with (RECORDS / "labels.csv").open(newline="") as handle:
        labelled = [
            LabelledEvent(
                row["kind"],
                record.station.station_id,
                row["variable"],
                parse_instant(row["start"]),
                parse_instant(row["end"]),
                float(row["magnitude"]),
            )
            for row in csv.DictReader(line for line in handle if not line.startswith("#"))
            if row["record"] == record.file
        ]
    return labelled + splices(record)


def splices(record: RealRecord) -> list[LabelledEvent]:
    """The month boundaries of a typical-year record, SPLICE_HOURS either side (kind
    ``splice``): a jump there is the file's making, neither weather nor a sensor."""
    if record.spliced_utc_offset is None:
        return []
    zone = timezone(timedelta(hours=record.spliced_utc_offset))
    boundaries = [datetime(TYPICAL_YEAR, month, 1, tzinfo=zone) for month in range(2, 13)]
    return [
        LabelledEvent(
            "splice",
            record.station.station_id,
            "*",
            boundary.timestamp() - SPLICE_HOURS * HOUR,
            boundary.timestamp() + SPLICE_HOURS * HOUR,
            0.0,
        )
        for boundary in boundaries
    ]


def inject(
    record: RealRecord, observations: Sequence[Observation]
) -> tuple[list[Observation], list[LabelledEvent]]:
    """A copy of the record with INJECTIONS written in, and their labels. A stuck fault is
    only written where the record is long enough for it to be judged (``stuck.min_hours``
    lies between a sound long run and a failed sensor)."""
    faulted = list(observations)
    labels = []
    span = observations[-1].observed_at - observations[0].observed_at
    for injection in INJECTIONS:
        if injection.hold and injection.hours * HOUR > span / 4:
            continue
        begin = observations[0].observed_at + injection.at * span
        end = begin + injection.hours * HOUR
        held: float | None = None
        touched: list[float] = []
        for i, observation in enumerate(faulted):
            if observation.observed_at < begin or (touched and observation.observed_at > end):
                continue
            value = observation.values.get(injection.variable)
            if value is None:
                continue
            if injection.hold:
                held = value if held is None else held
                value = held
            else:
                value += injection.shift
            faulted[i] = _with(observation, injection.variable, value)
            touched.append(observation.observed_at)
            if injection.hours == 0:
                break
        if touched:
            labels.append(
                LabelledEvent(
                    injection.kind,
                    record.station.station_id,
                    injection.variable,
                    touched[0],
                    touched[-1],
                    injection.shift or injection.hours,
                )
            )
    return faulted, labels


def _with(observation: Observation, variable: str, value: float) -> Observation:
    return msgspec.structs.replace(observation, values={**observation.values, variable: value})


def _chunks(observations: Sequence[Observation]) -> Iterator[tuple[float, list[Observation]]]:
    for first in range(0, len(observations), CHUNK_ROWS):
        chunk = list(observations[first : first + CHUNK_ROWS])
        yield chunk[-1].observed_at, chunk


def _run(loaded: LoadedSettings, record: RealRecord, observations) -> Outcome:
    return run_chunks(loaded, [record.station], _chunks(observations))


def evaluate_record(loaded: LoadedSettings, record: RealRecord) -> dict[str, object]:
    observations = load_record(record)
    run = (observations[0].observed_at, observations[-1].observed_at)
    days = (run[1] - run[0] + record.cadence_s) / 86_400
    clean = _run(loaded, record, observations)
    weather = read_labels(record)
    grace = 3 * HOUR
    matched = match(weather, clean.anomalies, grace=grace, run=run, station_days=days)
    per_family = {"weather": 0, "sensor": 0, "statistical": 0}
    for anomaly in clean.anomalies:
        per_family[family(anomaly.detector)] += anomaly.event_start is None  # one per burst
    faulted_observations, faults = inject(record, observations)
    faulted = _run(loaded, record, faulted_observations)
    found = match(faults, faulted.anomalies, grace=grace, run=run, station_days=days)
    return {
        "record": record.file,
        "station_days": round(days, 2),
        "observations": clean.accepted,
        "rejected_readings": clean.rejected_readings,
        "statistical_per_station_day": round(per_family["statistical"] / days, 3),
        "sensor_per_station_day": round(per_family["sensor"] / days, 3),
        "weather_rule_anomalies": per_family["weather"],
        "labelled_events": matched.as_dict()["by_kind"],
        "faults": {
            kind: {"injected": f.events, "reported": f.detected}
            for kind, f in sorted(found.by_kind.items())
        },
        "faults_reported_as_sensor_faults": _reported_as_sensor(faults, faulted, grace),
        "weather_alarms_caused_by_faults": _new_weather_alarms(clean, faulted),
        "maintenance_alerts": {"clean": _maintenance(clean), "faulted": _maintenance(faulted)},
    }


def _maintenance(outcome: Outcome) -> dict[str, int]:
    """How many maintenance alerts of each rule opened."""
    opened: dict[str, int] = {}
    for alert in outcome.alerts:
        if alert.rule in MAINTENANCE_RULES and alert.last_transition == "opened":
            opened[alert.rule] = opened.get(alert.rule, 0) + 1
    return dict(sorted(opened.items()))


def _reported_as_sensor(faults: list[LabelledEvent], faulted: Outcome, grace: float) -> str:
    """How many faults the sensor check of their own kind reported: a spike or a step within
    ``grace`` of its start, a frozen sensor while it lasts (it takes stuck.min_hours). A
    step reported as a spike, or only by a z-score, does not count."""
    reported = sum(
        any(
            a.detector in REPORTED_AS[f.kind]
            and a.variable == f.variable
            and f.start <= a.observed_at <= (f.end if f.kind == "stuck" else f.start) + grace
            for a in faulted.anomalies
        )
        for f in faults
    )
    return f"{reported}/{len(faults)}"


def _new_weather_alarms(clean: Outcome, faulted: Outcome) -> int:
    """Weather-rule anomalies of the faulted run that the clean record did not raise: a
    fault taken for weather."""
    before = {
        (a.detector, a.variable, a.observed_at)
        for a in clean.anomalies
        if a.detector in WEATHER_RULES
    }
    return sum(
        a.detector in WEATHER_RULES and (a.detector, a.variable, a.observed_at) not in before
        for a in faulted.anomalies
    )
