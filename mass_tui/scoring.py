"""``mass-tui score``: the statistical detectors over one CSV series.

Every input row is written out again with ``anomaly_score`` (the detectors' calibrated scores
fused, :func:`pipeline.detectors.calibration.fused_score`: 0..1, 0.5 where the fused tail
probability is the alarm's) and one ``<detector>_score`` column per detector (calibrated:
how improbable its statistic is for this series).
``anomaly_score`` is always a number, so any tool can rank the rows by it: 0 where no detector
evaluated the row (warm-up, a missing value, a row that could not be parsed). The detector
columns stay empty there, which tells "not evaluated" from "evaluated, unremarkable".

Cells are read as the replay reads them (:mod:`pipeline.sources.replay_csv`): a missing marker
(empty, ``NA``, ``M``, ``-9999``...) is a missing value, not an error; times without an offset
are in ``--timezone``. A gap longer than ``--max-gap`` restarts the detectors' warm-up, as in
the live pipeline, and stderr says how many rows that left unscored.

Rows are read as the replay reads them too (:class:`pipeline.sources.replay_csv.CsvRecords`),
so no row can end the run: a line that is not UTF-8 or that the csv module refuses is left out
of the output, and a row with more cells than the header, a time that no observation can carry
(:func:`pipeline.times.implausible_time`: before 1900, epoch milli- or microseconds, after year
9999) or one in the future, and a value outside the plausible range (the declared variable's
when ``--value-column`` names one, else ±:data:`~pipeline.variables.MAX_MAGNITUDE`) is not
scored; each is one line on stderr with its line number (the first :data:`MAX_TOLD`, then a
count). Rows out of time order are not scored either: the fewest that leave the rest running
forward in time (:func:`in_time_order`), so one far-ahead typo costs that row, not every row
after it. Only a header that cannot be read is an error. Text from the file reaches stderr
escaped (:func:`pipeline.text.printable`).
"""

from __future__ import annotations

import argparse
import bisect
import csv
import itertools
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

import msgspec
import numpy as np

from mass_tui.score_arguments import OUTPUT_COLUMNS
from mass_tui.settings_layers import ConfigError, LoadedSettings
from pipeline.detector_axis import STATISTICAL
from pipeline.detectors import DetectorBank
from pipeline.detectors.calibration import fused_score
from pipeline.frame import ObservationFrame
from pipeline.settings import (
    DetectorSettings,
    GustSettings,
    PressureFallSettings,
    RapidChangeSettings,
    RuleSettings,
)
from pipeline.sources.replay_csv import (
    DEFAULT_MARKERS,
    CsvHeaderError,
    CsvRecords,
    TimeParser,
    read_header,
    time_zone,
)
from pipeline.text import printable
from pipeline.times import implausible_time, iso_utc
from pipeline.variables import MAX_MAGNITUDE, VariableSpec

MAX_TOLD = 20
"""Rows that could not be used told one line each on stderr; the rest are counted."""


@dataclass(slots=True)
class ParsedSeries:
    rows: list[list[str]]  # the cells of every row written out, as many as the header has
    fieldnames: list[str]
    usable: list[int]  # indices of rows that parsed, have a value and are in time order
    times: np.ndarray
    values: np.ndarray
    missing: int  # rows whose value cell is a missing marker


def _shown(cell: str) -> str:
    """A cell from the file as an error message quotes it: escaped, and cut."""
    return printable(repr(cell), 80)


def _column(name: str, header: Sequence[str], column: str, flag: str) -> int:
    count = header.count(column)
    if count == 1:
        return header.index(column)
    if count > 1:
        raise ConfigError(
            f"{printable(name)}: column {_shown(column)} ({flag}) is in the header {count} "
            "times: rename one"
        )
    shown = printable(", ".join(header), 2_000) if header else "none"
    raise ConfigError(f"{printable(name)}: no column {_shown(column)} (columns: {shown})")


def read_series(
    handle: BinaryIO,
    name: str,
    time_column: str,
    value_column: str,
    times: TimeParser,
    spec: VariableSpec,
    latest: float = math.inf,
) -> tuple[ParsedSeries, list[str]]:
    """The rows of the CSV file open in ``handle`` (binary) and what could not be used, one
    message a row, in line order. Records are read with :class:`CsvRecords`, the replay's
    reader: one that cannot be read at all is left out of the rows. A row is not scored when
    it has more cells than the header, its time is implausible or after ``latest``, or its
    value is outside ``spec``'s range. Raises ConfigError when the header cannot be read, a
    column is missing or twice in it, or it names an output column."""
    shown_name = printable(name)
    errors: list[tuple[int, str]] = []  # (line, message)

    def unreadable(number: int, _text: str, reason: str, **_: object) -> None:
        errors.append((number, f"{shown_name} line {number}: {reason} (left out of the output)"))

    def unusable(line: int, message: str) -> None:
        errors.append((line, f"{shown_name} line {line}: {message}"))

    records = CsvRecords(handle, unreadable, header_line=1)
    lines = iter(records)
    try:
        fieldnames = read_header(records, lines, 1)
    except CsvHeaderError as exc:
        raise ConfigError(f"{shown_name}: cannot read the header: {exc}") from None
    at_time = _column(name, fieldnames, time_column, "--time-column")
    at_value = _column(name, fieldnames, value_column, "--value-column")
    clashes = [column for column in fieldnames if column in OUTPUT_COLUMNS]
    if clashes:
        raise ConfigError(
            f"{shown_name}: column {clashes[0]!r} is also a column score writes "
            f"({', '.join(OUTPUT_COLUMNS)}): rename it"
        )
    width = len(fieldnames)
    rows: list[list[str]] = []
    candidates: list[tuple[int, int, str]] = []  # (row, line, raw time) of each usable value
    when_list: list[float] = []
    values: list[float] = []
    missing = 0
    last_time: float | None = None
    for cells in lines:
        if not cells:  # a blank line, as csv.DictReader skips it
            continue
        line = records.number
        rows.append((cells + [""] * (width - len(cells)))[:width])
        if len(cells) > width:
            unusable(
                line,
                f"{len(cells)} cells, the header has {width} "
                "(not scored; the extra cells are left out of the output)",
            )
            continue
        raw_time, raw_value = rows[-1][at_time], rows[-1][at_value]  # padded: a short row
        try:
            when = times.parse(raw_time, last_time)
        except (ValueError, OverflowError):
            unusable(line, f"cannot parse time {_shown(raw_time)}")
            continue
        reason = implausible_time(when)
        if reason is None and when > latest:
            reason = f"{iso_utc(when, 'seconds')} is in the future"
        if reason is not None:
            unusable(line, f"time {_shown(raw_time)}: {reason}")
            continue
        last_time = when  # which of a repeated local hour a naive time means
        try:
            value = DEFAULT_MARKERS.number(raw_value)
        except ValueError:
            unusable(line, f"cannot parse value {_shown(raw_value)}")
            continue
        if value is None:
            missing += 1
            continue
        value = spec.plausible(value)
        if value is None:
            unusable(
                line,
                f"value {_shown(raw_value)} is outside the plausible range "
                f"{spec.minimum:g}..{spec.maximum:g}"
                + (" of any column" if spec is ANY_VALUE else f" of {spec.name}"),
            )
            continue
        candidates.append((len(rows) - 1, line, raw_time))
        when_list.append(when)
        values.append(value)
    ordered = in_time_order(when_list)
    for keep, (_row, line, raw_time) in zip(ordered, candidates, strict=True):
        if not keep:
            unusable(line, f"time {_shown(raw_time)} is out of time order with the rows around it")
    series = ParsedSeries(
        rows,
        fieldnames,
        [row for keep, (row, _, _) in zip(ordered, candidates, strict=True) if keep],
        np.array(when_list, dtype=np.float64)[ordered],
        np.array(values, dtype=np.float64)[ordered],
        missing,
    )
    return series, [message for _, message in sorted(errors, key=lambda e: e[0])]


def in_time_order(times: Sequence[float]) -> np.ndarray:
    """Which of ``times`` to keep so that the fewest are left out and the kept ones strictly
    increase: a longest increasing subsequence (patience sorting, O(n log n)). Of equally
    long ones, the one keeping earlier rows: it is found from the end backwards, on negated
    times, where a later candidate replaces an equal tail. A file of one station's series in
    order keeps every row; one typo a year ahead, or a row repeated, loses that row alone."""
    n = len(times)
    keep = np.zeros(n, dtype=bool)
    if n < 2 or all(a < b for a, b in itertools.pairwise(times)):
        keep[:] = True
        return keep
    tails: list[float] = []  # the smallest last (negated) time of a rising run of each length
    tail_at: list[int] = []
    previous = [-1] * n
    for i in range(n - 1, -1, -1):
        key = -times[i]
        length = bisect.bisect_left(tails, key)
        if length == len(tails):
            tails.append(key)
            tail_at.append(i)
        else:
            tails[length] = key
            tail_at[length] = i
        previous[i] = tail_at[length - 1] if length else -1
    i = tail_at[-1]
    while i >= 0:
        keep[i] = True
        i = previous[i]
    return keep


def value_spec(value_column: str, variables: Sequence[VariableSpec]) -> VariableSpec:
    """The plausible range of the value column: the declared variable's when the column is
    named as one, else ±MAX_MAGNITUDE, the largest any variable may declare (beyond it the
    detectors' squares of differences overflow)."""
    for spec in variables:
        if spec.name == value_column:
            return spec
    return ANY_VALUE


ANY_VALUE = VariableSpec("any_value", "", "value", -MAX_MAGNITUDE, MAX_MAGNITUDE, 1e-9)


def resolution_of(values: np.ndarray) -> float:
    """The series' own step size (smallest difference between distinct values): the noise
    floor under which the detectors do not divide."""
    distinct = np.unique(values)
    if distinct.size < 2:
        return 1e-9
    return float(max(np.min(np.diff(distinct)), 1e-12))


def score_series(
    series: ParsedSeries, detectors: DetectorSettings, bounds: VariableSpec
) -> dict[str, np.ndarray]:
    """Each statistical detector's score of each usable row (NaN: not evaluated). The values
    lie within ``bounds`` (read_series keeps the rest out), which lie within ±MAX_MAGNITUDE."""
    spec = VariableSpec(
        "value", "", "value", bounds.minimum, bounds.maximum, resolution_of(series.values)
    )
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
    series went unscored after them, until a detector evaluated again. A row after several
    gaps (gaps closer together than the warm-up) is counted once."""
    n = times.shape[0]
    restarts = np.flatnonzero(np.diff(times) > max_gap_s) + 1
    if not restarts.size:
        return 0, 0
    scored_at = np.flatnonzero(evaluated)
    following = np.searchsorted(scored_at, restarts)  # the first evaluated row at or after
    ends = np.append(scored_at, n)[following]
    change = np.zeros(n + 1, dtype=np.int64)
    np.add.at(change, restarts, 1)
    np.add.at(change, ends, -1)
    covered = np.cumsum(change[:n]) > 0
    return restarts.shape[0], int(covered.sum())


@contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    try:
        handle = path.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{printable(str(path))}: cannot write: {exc.strerror}") from None
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
    bounds = value_spec(args.value_column, loaded.variables)
    # As the pipeline's validation: no observation is from further ahead than this.
    latest = time.time() + loaded.settings.validation.max_future_s
    try:
        handle = args.input.open("rb")
    except OSError as exc:
        raise ConfigError(f"{printable(str(args.input))}: cannot read: {exc.strerror}") from None
    with handle:
        try:
            series, errors = read_series(
                handle, str(args.input), args.time_column, args.value_column, times, bounds, latest
            )
        except OSError as exc:  # a directory, or a read error part-way
            raise ConfigError(
                f"{printable(str(args.input))}: cannot read: {exc.strerror}"
            ) from None
    for error in errors[:MAX_TOLD]:
        _say(error)
    if len(errors) > MAX_TOLD:
        _say(f"... and {len(errors) - MAX_TOLD:,} more rows that could not be used")
    per_detector = score_series(series, detectors, bounds) if len(series.times) else {}
    n_rows = len(series.rows)
    columns = {name: np.full(n_rows, np.nan) for name in per_detector}
    for name, scores in per_detector.items():
        columns[name][series.usable] = scores
    stacked = np.vstack(list(columns.values())) if columns else np.full((1, n_rows), np.nan)
    evaluated = ~np.isnan(stacked).all(axis=0)
    combined = fused_score(stacked)
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
            writer = csv.writer(out)
            writer.writerow([*series.fieldnames, "anomaly_score", *names])
            for i, cells in enumerate(series.rows):
                row_scores = [_cell(columns[name][i]) for name in columns]
                writer.writerow([*cells, f"{combined[i]:.4f}", *row_scores])
            out.flush()
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as headless does. Standard output
        # goes to /dev/null so the interpreter's last flush does not fail again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a full disk, /dev/full, an I/O error: said, exit 1
        where = printable(str(args.output)) if args.output is not None else "standard output"
        if args.output is None:  # what is buffered would fail again at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        _say(f"cannot write the output to {where}: {exc.strerror or exc}; it is incomplete")
        return 1
    if args.output is not None:
        _say(f"{n_rows} rows scored into {args.output} ({len(errors)} could not be used)")
    return 0
