"""``mass-tui score``: the statistical detectors over one CSV series.

Every input row is written out again with ``anomaly_score`` (the highest of the detectors'
scores, 0..1, 0.5 = at a threshold) and one ``<detector>_score`` column per detector. A cell is
left empty where a detector did not evaluate the row: during warm-up, or for a row that could
not be parsed (reported on stderr with its line number, and still written, so nothing is lost).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import numpy as np

from mass_tui.config import ConfigError, LoadedSettings
from pipeline.detectors import DetectorBank
from pipeline.frame import ObservationFrame
from pipeline.settings import (
    GustSettings,
    PressureFallSettings,
    RapidChangeSettings,
    RuleSettings,
)
from pipeline.variables import VariableSpec

STATISTICAL = ("zscore", "ewma", "cusum")


@dataclass(slots=True)
class ParsedSeries:
    rows: list[dict[str, str]]
    fieldnames: list[str]
    usable: list[int]  # indices of rows that parsed and are in time order
    times: np.ndarray
    values: np.ndarray


def parse_time(text: str) -> float:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def read_series(
    handle: TextIO, name: str, time_column: str, value_column: str
) -> tuple[ParsedSeries, list[str]]:
    reader = csv.DictReader(handle)
    fieldnames = list(reader.fieldnames or [])
    for column in (time_column, value_column):
        if column not in fieldnames:
            raise ConfigError(
                f"{name}: no column {column!r} (columns: {', '.join(fieldnames) or 'none'})"
            )
    rows, usable, times, values, errors = [], [], [], [], []
    last_time = -math.inf
    for row in reader:
        rows.append(row)
        line = reader.line_num
        raw_time, raw_value = row.get(time_column) or "", row.get(value_column) or ""
        try:
            when = parse_time(raw_time)
        except ValueError:
            errors.append(f"{name} line {line}: cannot parse time {raw_time!r}")
            continue
        try:
            value = float(raw_value)
        except ValueError:
            errors.append(f"{name} line {line}: cannot parse value {raw_value!r}")
            continue
        if not math.isfinite(value):
            errors.append(f"{name} line {line}: value {raw_value!r} is not a finite number")
            continue
        if when <= last_time:
            errors.append(f"{name} line {line}: time {raw_time!r} is not after the previous row")
            continue
        last_time = when
        usable.append(len(rows) - 1)
        times.append(when)
        values.append(value)
    series = ParsedSeries(rows, fieldnames, usable, np.array(times), np.array(values))
    return series, errors


def resolution_of(values: np.ndarray) -> float:
    """The series' own step size (smallest difference between distinct values): the noise
    floor under which the detectors do not divide."""
    distinct = np.unique(values)
    if distinct.size < 2:
        return 1e-9
    return float(max(np.min(np.diff(distinct)), 1e-12))


def score_series(series: ParsedSeries, loaded: LoadedSettings) -> dict[str, np.ndarray]:
    spec = VariableSpec("value", "", "value", -math.inf, math.inf, resolution_of(series.values))
    detectors = loaded.settings.detectors
    no_rules = RuleSettings(
        pressure_fall=PressureFallSettings(enabled=False),
        gust=GustSettings(enabled=False),
        rapid_change=RapidChangeSettings(enabled=False),
    )
    bank = DetectorBank((spec,), detectors, no_rules)
    n = len(series.times)
    frame = ObservationFrame(np.zeros(n, dtype=np.int64), series.times, series.values.reshape(n, 1))
    scores = bank.process(frame, ["series"], emit=False, want_scores=True).scores or {}
    return {name: scores[name][:, 0] for name in STATISTICAL if name in scores}


@contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    try:
        handle = path.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror}") from None
    with handle:
        yield handle


def _cell(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.4f}"


def run_score(args: argparse.Namespace, loaded: LoadedSettings) -> int:
    try:
        handle = args.input.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{args.input}: cannot read: {exc.strerror}") from None
    with handle:
        series, errors = read_series(handle, str(args.input), args.time_column, args.value_column)
    for error in errors:
        print(f"mass-tui score: {error}", file=sys.stderr)
    per_detector = score_series(series, loaded) if len(series.times) else {}
    n_rows = len(series.rows)
    columns = {name: np.full(n_rows, np.nan) for name in per_detector}
    for name, scores in per_detector.items():
        columns[name][series.usable] = scores
    stacked = np.vstack(list(columns.values())) if columns else np.full((1, n_rows), np.nan)
    evaluated = ~np.isnan(stacked).all(axis=0)
    combined = np.full(n_rows, np.nan)
    combined[evaluated] = np.nanmax(stacked[:, evaluated], axis=0)
    with _output(args.output) as out:
        names = [f"{name}_score" for name in columns]
        writer = csv.DictWriter(out, fieldnames=[*series.fieldnames, "anomaly_score", *names])
        writer.writeheader()
        for i, row in enumerate(series.rows):
            row = dict(row)
            row["anomaly_score"] = _cell(combined[i])
            for name in columns:
                row[f"{name}_score"] = _cell(columns[name][i])
            writer.writerow(row)
    if args.output is not None:
        print(
            f"mass-tui score: {n_rows} rows scored into {args.output}"
            f" ({len(errors)} could not be used)",
            file=sys.stderr,
        )
    return 0
