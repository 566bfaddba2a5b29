"""`mass-tui score` against hostile CSV files: no row can end the run or poison the rest.

Each case was found by an adversarial tester. A bad row is one line on stderr with its line
number and the rest is scored; a header that cannot be read is one line and exit 2; nothing
from the file reaches the terminal unescaped; no traceback and no numpy warning ever.
"""

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

MASS_TUI = [sys.executable, "-m", "mass_tui"]
START = 1_767_225_600  # 2026-01-01T00:00:00Z
HEADER = ["timestamp", "value", "anomaly_score", "zscore_score", "ewma_score", "cusum_score"]


def valid_series(n: int = 200, seed: int = 7, step_s: float = 60.0) -> bytes:
    values = 10 + np.random.default_rng(seed).normal(0, 0.2, n)
    lines = ["timestamp,value"]
    lines += [f"{START + step_s * i:.0f},{v:.3f}" for i, v in enumerate(values)]
    return ("\n".join(lines) + "\n").encode()


def score(tmp_path: Path, content: bytes, *extra: str) -> subprocess.CompletedProcess[str]:
    source = tmp_path / "in.csv"
    source.write_bytes(content)
    env = {**os.environ, "NO_COLOR": "1", "PYTHONWARNINGS": "default"}
    return subprocess.run(
        [*MASS_TUI, "score", str(source), *extra],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


def output_rows(result: subprocess.CompletedProcess[str]) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == HEADER
    return rows[1:]


def scored(row: list[str]) -> bool:
    return row[HEADER.index("zscore_score")] != ""


# 1. No row can end the reading.


def test_a_line_that_is_not_utf8_is_one_rejected_row(tmp_path):
    result = score(tmp_path, valid_series() + b"1767237600,1\xe9\n" + b"1767237660,10.1\n")
    no_traceback(result)
    assert result.returncode == 0
    assert "line 202: not UTF-8" in result.stderr
    rows = output_rows(result)
    assert len(rows) == 201  # the unreadable line is left out, the one after it is scored
    assert rows[-1][:2] == ["1767237660", "10.1"] and scored(rows[-1])


def test_a_cell_over_the_csv_field_limit_is_one_rejected_row(tmp_path):
    huge = b"1767237600," + b"9" * 140_000 + b"\n"
    result = score(tmp_path, valid_series() + huge + b"1767237660,10.1\n")
    no_traceback(result)
    assert result.returncode == 0
    assert "line 202: unreadable CSV: field larger than field limit" in result.stderr
    assert len(result.stderr) < 2_000
    rows = output_rows(result)
    assert len(rows) == 201 and scored(rows[-1])


def test_a_row_with_an_extra_cell_is_reported_and_the_output_is_complete(tmp_path):
    content = valid_series().replace(b"\n", b",extra\n", 101).replace(b",extra\n", b"\n", 100)
    assert content.count(b",extra") == 1  # line 101 has three cells
    result = score(tmp_path, content)
    no_traceback(result)
    assert result.returncode == 0
    assert "line 101: 3 cells, the header has 2" in result.stderr
    rows = output_rows(result)
    assert len(rows) == 200
    assert all(len(row) == len(HEADER) for row in rows)
    assert rows[99][HEADER.index("anomaly_score")] == "0.0000" and not scored(rows[99])
    assert scored(rows[-1])


def test_a_header_that_cannot_be_read_is_one_line_exit_2(tmp_path):
    result = score(tmp_path, b"times\xe9tamp,value\n" + valid_series().split(b"\n", 1)[1])
    no_traceback(result)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not UTF-8" in result.stderr
    assert result.stdout == ""


# 2. Column names are escaped.


def test_column_names_reach_stderr_escaped(tmp_path):
    result = score(tmp_path, b"tim\x1b]0;PWN\x07e,val\x1b[31mue\n1,2\n")
    no_traceback(result)
    assert result.returncode == 2
    assert "\\x1b]0;PWN\\x07e" in result.stderr and result.stderr.count("\n") == 1


def test_cells_reach_stderr_escaped(tmp_path):
    result = score(tmp_path, valid_series() + b"1767237600,\x1b[2J\xe2\x80\xae9\n")
    no_traceback(result)
    assert "\u202e" not in result.stderr and "line 202: cannot parse value" in result.stderr


# 3. Gaps, and epoch milliseconds.


def test_each_row_unscored_after_gaps_is_counted_once(tmp_path):
    result = score(tmp_path, valid_series(step_s=4 * 3600.0))
    no_traceback(result)
    assert result.returncode == 0
    assert "199 gaps longer than 10800 s restarted the warm-up: 199 rows" in result.stderr


def test_epoch_milliseconds_are_refused_per_row_as_the_replay_refuses_them(tmp_path):
    lines = valid_series().decode().splitlines()
    lines[50] = lines[50].replace(str(START + 49 * 60), str((START + 49 * 60) * 1000))
    result = score(tmp_path, ("\n".join(lines) + "\n").encode())
    no_traceback(result)
    assert result.returncode == 0
    assert "line 51: " in result.stderr and "looks like milli- or microseconds" in result.stderr
    assert "out of time order" not in result.stderr
    rows = output_rows(result)
    assert not scored(rows[49]) and scored(rows[-1])


def test_a_series_all_in_milliseconds_is_refused_row_by_row(tmp_path):
    lines = ["timestamp,value"] + [f"{(START + 60 * i) * 1000},10" for i in range(200)]
    result = score(tmp_path, ("\n".join(lines) + "\n").encode())
    no_traceback(result)
    assert result.returncode == 0
    assert result.stderr.count("looks like milli- or microseconds") == 20  # then counted
    assert "... and 180 more rows that could not be used" in result.stderr
    assert "restarted the warm-up" not in result.stderr


# 4. One implausible time rejects one row.


@pytest.mark.parametrize(
    "when",
    ["9999-12-31T23:59:59+14:00", "2999-01-01T00:00:00Z", "1767225600000000", "1850-01-01"],
)
def test_one_implausible_time_rejects_that_row_only(tmp_path, when):
    lines = valid_series().decode().splitlines()
    lines.insert(100, f"{when},10.0")  # line 101
    result = score(tmp_path, ("\n".join(lines) + "\n").encode())
    no_traceback(result)
    assert result.returncode == 0
    problems = [line for line in result.stderr.splitlines() if " line " in line]
    assert len(problems) == 1 and " line 101: " in problems[0], result.stderr
    rows = output_rows(result)
    assert len(rows) == 201 and not scored(rows[99]) and scored(rows[-1])


def test_a_time_typo_ahead_in_the_past_year_costs_that_row_alone(tmp_path):
    """A plausible but wrong time (a month ahead, not in the future) made every later row
    "not after the previous row": the rest of the series went unscored."""
    lines = valid_series().decode().splitlines()
    lines[101] = f"{START + 30 * 86_400:.0f},10.0"  # line 102, row 100
    result = score(tmp_path, ("\n".join(lines) + "\n").encode())
    no_traceback(result)
    problems = [line for line in result.stderr.splitlines() if " line " in line]
    assert len(problems) == 1 and "line 102: " in problems[0] and "out of time order" in problems[0]
    rows = output_rows(result)
    assert not scored(rows[100]) and all(scored(row) for row in rows[101:])


def test_stderr_tells_the_first_unusable_rows_and_counts_the_rest(tmp_path):
    lines = valid_series().decode().splitlines()
    lines[1:151] = [f"{START + 60 * i:.0f},oops" for i in range(150)]
    result = score(tmp_path, ("\n".join(lines) + "\n").encode())
    no_traceback(result)
    told = [line for line in result.stderr.splitlines() if "cannot parse value" in line]
    assert len(told) == 20 and "line 2: " in told[0] and "line 21: " in told[-1]
    assert "... and 130 more rows that could not be used" in result.stderr


# 5. Values out of range do not enter the detectors.


@pytest.mark.parametrize("huge", ["1e308", "-1e308", "1e13"])
def test_a_huge_value_is_one_rejected_row_and_does_not_poison_the_series(tmp_path, huge):
    lines = valid_series(400).decode().splitlines()
    lines[150] = lines[150].split(",")[0] + f",{huge}"
    result = score(tmp_path, ("\n".join(lines) + "\n").encode())
    no_traceback(result)
    assert result.returncode == 0
    assert "line 151: value" in result.stderr and "plausible range" in result.stderr
    rows = output_rows(result)
    assert not scored(rows[149]) and rows[149][HEADER.index("anomaly_score")] == "0.0000"
    after = np.array([float(row[HEADER.index("ewma_score")]) for row in rows[160:]])
    assert np.isfinite(after).all() and np.median(after) < 0.5
    assert all(scored(row) for row in rows[160:])


def test_a_value_outside_a_known_variables_range_is_rejected(tmp_path):
    content = valid_series().replace(b"timestamp,value", b"timestamp,humidity_pct")
    result = score(tmp_path, content + b"1767237600,150\n", "--value-column", "humidity_pct")
    no_traceback(result)
    assert result.returncode == 0
    assert "line 202: value '150' is outside the plausible range 0..100" in result.stderr


def test_the_largest_accepted_magnitudes_raise_no_numpy_warning(tmp_path):
    lines = ["timestamp,value"]
    lines += [f"{START + 60 * i},{1e12 if i % 2 else -1e12}" for i in range(200)]
    lines[150] = f"{START + 60 * 149},0.000001"
    result = score(tmp_path, ("\n".join(lines) + "\n").encode())
    no_traceback(result)
    assert result.returncode == 0


# 6. Output column names.


@pytest.mark.parametrize("clash", ["anomaly_score", "cusum_score"])
def test_an_input_column_named_as_an_output_column_is_refused(tmp_path, clash):
    content = valid_series().replace(b"timestamp,value", f"timestamp,value,{clash}".encode())
    result = score(tmp_path, content)
    no_traceback(result)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and repr(clash) in result.stderr


def test_the_clash_is_documented_in_help(tmp_path):
    result = subprocess.run(
        [*MASS_TUI, "score", "--help"], capture_output=True, text=True, timeout=60
    )
    assert "anomaly_score" in " ".join(result.stdout.split())


def test_the_time_or_value_column_twice_in_the_header_is_refused(tmp_path):
    content = valid_series().replace(b"timestamp,value", b"timestamp,value,value")
    result = score(tmp_path, content)
    no_traceback(result)
    assert result.returncode == 2 and "'value'" in result.stderr and "2 times" in result.stderr


def test_an_output_that_cannot_be_written_is_one_line_and_exit_1(tmp_path):
    """A full disk (/dev/full) raised a traceback."""
    source = tmp_path / "in.csv"
    source.write_bytes(valid_series())
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [*MASS_TUI, "score", str(source)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("mass-tui score: cannot write")
