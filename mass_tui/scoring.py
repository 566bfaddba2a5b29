"""``mass-tui score``: the statistical detectors over one CSV series.

Every input row is written out again with ``anomaly_score`` (the highest of the detectors'
scores, 0..1, 0.5 = at a threshold) and one ``<detector>_score`` column per detector.
``anomaly_score`` is always a number, so any tool can rank the rows by it: 0 where no detector
evaluated the row (warm-up, a missing value, a row that could not be parsed). The detector
columns stay empty there, which tells "not evaluated" from "evaluated, unremarkable".

Cells are read as the replay reads them (:mod:`pipeline.sources.replay_csv`): a missing marker
(empty, ``NA``, ``M``, ``-9999``...) is a missing value, not an error; times without an offset
are in ``--timezone``. A gap longer than ``--max-gap`` restarts the detectors' warm-up, as in
the live pipeline, and stderr says how many rows that left unscored.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import msgspec
import numpy as np

from mass_tui.config import ConfigError, LoadedSettings
from pipeline.detectors import DetectorBank
from pipeline.frame import ObservationFrame
from pipeline.settings import (
    DetectorSettings,
    GustSettings,
    PressureFallSettings,
    RapidChangeSettings,
    RuleSettings,
)
from pipeline.sources.replay_csv import DEFAULT_MARKERS, TimeParser, time_zone
from pipeline.variables import VariableSpec

STATISTICAL = ("zscore", "ewma", "cusum")


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def add_score_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``mass-tui score``, declared beside the code that reads them."""
    parser.add_argument("input", type=Path, metavar="INPUT.csv")
    parser.add_argument("--time-column", default="timestamp")
    parser.add_argument("--value-column", default="value")
    parser.add_argument("--output", type=Path, metavar="OUT.csv", help="default: stdout")
    parser.add_argument(
        "--max-gap",
        type=_seconds,
        metavar="SECONDS",
        help="a longer gap between rows restarts the detectors' warm-up "
        "(default: detectors.max_gap_s, 10800)",
    )
    parser.add_argument(
        "--timezone",
        default="UTC",
        metavar="ZONE",
        help="IANA time zone of times written without an offset, as the replay's "
        "[source.replay.csv] timezone (default: UTC)",
    )


@dataclass(slots=True)
class ParsedSeries:
    rows: list[dict[str, str]]
    fieldnames: list[str]
    usable: list[int]  # indices of rows that parsed, have a value and are in time order
    times: np.ndarray
    values: np.ndarray
    missing: int  # rows whose value cell is a missing marker


def read_series(
    handle: TextIO, name: str, time_column: str, value_column: str, times: TimeParser
) -> tuple[ParsedSeries, list[str]]:
    reader = csv.DictReader(handle)
    fieldnames = list(reader.fieldnames or [])
    for column in (time_column, value_column):
        if column not in fieldnames:
            raise ConfigError(
                f"{name}: no column {column!r} (columns: {', '.join(fieldnames) or 'none'})"
            )
    rows, usable, when_list, values, errors = [], [], [], [], []
    missing = 0
    last_time = -math.inf
    for row in reader:
        rows.append(row)
        line = reader.line_num
        raw_time, raw_value = row.get(time_column) or "", row.get(value_column) or ""
        try:
            when = times.parse(raw_time, last_time)
        except ValueError:
            errors.append(f"{name} line {line}: cannot parse time {raw_time!r}")
            continue
        try:
            value = DEFAULT_MARKERS.number(raw_value)
        except ValueError:
            errors.append(f"{name} line {line}: cannot parse value {raw_value!r}")
            continue
        if value is None:
            missing += 1
            continue
        if when <= last_time:
            errors.append(f"{name} line {line}: time {raw_time!r} is not after the previous row")
            continue
        last_time = when
        usable.append(len(rows) - 1)
        when_list.append(when)
        values.append(value)
    series = ParsedSeries(rows, fieldnames, usable, np.array(when_list), np.array(values), missing)
    return series, errors


def resolution_of(values: np.ndarray) -> float:
    """The series' own step size (smallest difference between distinct values): the noise
    floor under which the detectors do not divide."""
    distinct = np.unique(values)
    if distinct.size < 2:
        return 1e-9
    return float(max(np.min(np.diff(distinct)), 1e-12))


def score_series(series: ParsedSeries, detectors: DetectorSettings) -> dict[str, np.ndarray]:
    spec = VariableSpec("value", "", "value", -math.inf, math.inf, resolution_of(series.values))
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


def warmup_restarts(times: np.ndarray, evaluated: np.ndarray, max_gap_s: float) -> tuple[int, int]:
    """How many gaps longer than ``max_gap_s`` restarted the warm-up, and how many rows of the
    series went unscored after them, until a detector evaluated again."""
    restarts = np.flatnonzero(np.diff(times) > max_gap_s) + 1
    unscored = 0
    for start in restarts.tolist():
        after = evaluated[start:]
        unscored += int(np.argmax(after)) if after.any() else after.shape[0]
    return restarts.shape[0], unscored


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


def _say(message: str) -> None:
    print(f"mass-tui score: {message}", file=sys.stderr)


def run_score(args: argparse.Namespace, loaded: LoadedSettings) -> int:
    detectors = loaded.settings.detectors
    # Until mass_tui/cli.py declares its flags with add_score_arguments, they may be absent.
    max_gap = args.max_gap
    if max_gap is not None:
        detectors = msgspec.structs.replace(detectors, max_gap_s=max_gap)
    try:
        times = TimeParser(zone=time_zone(args.timezone))
    except ValueError as exc:
        raise ConfigError(f"--timezone: {exc}") from None
    try:
        handle = args.input.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{args.input}: cannot read: {exc.strerror}") from None
    with handle:
        series, errors = read_series(
            handle, str(args.input), args.time_column, args.value_column, times
        )
    for error in errors:
        _say(error)
    per_detector = score_series(series, detectors) if len(series.times) else {}
    n_rows = len(series.rows)
    columns = {name: np.full(n_rows, np.nan) for name in per_detector}
    for name, scores in per_detector.items():
        columns[name][series.usable] = scores
    stacked = np.vstack(list(columns.values())) if columns else np.full((1, n_rows), np.nan)
    evaluated = ~np.isnan(stacked).all(axis=0)
    combined = np.zeros(n_rows)
    combined[evaluated] = np.nanmax(stacked[:, evaluated], axis=0)
    if series.missing:
        _say(f"{series.missing} rows with a missing value (anomaly_score 0)")
    restarts, unscored = warmup_restarts(
        series.times, evaluated[series.usable], detectors.max_gap_s
    )
    if restarts:
        _say(
            f"{restarts} gaps longer than {detectors.max_gap_s:g} s restarted the warm-up: "
            f"{unscored} rows after them not scored (anomaly_score 0; --max-gap to change)"
        )
    try:
        with _output(args.output) as out:
            names = [f"{name}_score" for name in columns]
            writer = csv.DictWriter(out, fieldnames=[*series.fieldnames, "anomaly_score", *names])
            writer.writeheader()
            for i, row in enumerate(series.rows):
                row = dict(row)
                row["anomaly_score"] = f"{combined[i]:.4f}"
                for name in columns:
                    row[f"{name}_score"] = _cell(columns[name][i])
                writer.writerow(row)
            out.flush()
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as headless does. Standard output
        # goes to /dev/null so the interpreter's last flush does not fail again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if args.output is not None:
        _say(f"{n_rows} rows scored into {args.output} ({len(errors)} could not be used)")
    return 0
