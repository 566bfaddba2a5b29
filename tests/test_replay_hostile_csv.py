"""CSV files no line of which can end a replay: each bad record is one quarantined line with its
number, every sound row around it is read, and a header that cannot be read is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mass_tui.assemble import csv_columns
from pipeline.clock import FixedClock
from pipeline.settings import CsvSettings
from pipeline.sources.replay import ReplaySource
from pipeline.sources.replay_csv import MAX_RECORD_LINES, CsvHeaderError
from pipeline.variables import STANDARD_VARIABLES
from tests.test_replay_real_files import headless

T0 = 1_767_225_600
HEADER = "timestamp,station,name,temp,pres\n"
MAPPING = CsvSettings(
    time_column="timestamp",
    station_column="station",
    station_name_column="name",
    variables={"temperature_c": "temp", "pressure_hpa": "pres"},
)
MAPPING_TOML = """time_column = "timestamp"
station_column = "station"
station_name_column = "name"
variables = { temperature_c = "temp", pressure_hpa = "pres" }
"""


def row(i: int, name: str = "S") -> str:
    return f"{T0 + i * 60},s,{name},{10 + i % 3},1000\n"


def rows(numbers: range) -> str:
    return "".join(row(i) for i in numbers)


def replay(path: Path) -> tuple[list[float], list[str], ReplaySource]:
    """The times read and the rejection reasons, in file order."""
    source = ReplaySource(
        path,
        clock=FixedClock(0),
        pace="fast",
        batch=100_000,
        csv_columns=csv_columns(MAPPING, STANDARD_VARIABLES),
    )
    times = [o.observed_at for o in source.poll()]
    return times, [r.reason for r in source.drain_rejections()], source


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "station.csv"
    path.write_bytes(text.encode())
    return path


def times_of(numbers) -> list[float]:
    return [float(T0 + i * 60) for i in numbers]


def test_a_cell_over_the_csv_module_s_limit_loses_only_its_row(tmp_path):
    big = f"{T0 + 1500 * 60},s,{'x' * 200_000},1,1000\n"
    path = write(tmp_path, HEADER + rows(range(1500)) + big + rows(range(1501, 3000)))
    times, reasons, source = replay(path)
    assert times == times_of([*range(1500), *range(1501, 3000)])
    assert reasons == [
        "station.csv line 1502: unreadable CSV: field larger than field limit (131072)"
    ]
    assert source.state() == "replay finished (2999 observations, 1 bad lines)"


def test_a_line_break_inside_an_unquoted_cell_ends_a_line_not_the_replay(tmp_path):
    """A lone CR ends a line (universal newlines): the row becomes a row of no readings (the
    validation rejects it) and a line with no time."""
    path = write(tmp_path, HEADER + row(0) + f"{T0 + 60},s,bad\rname,1,1000\n" + rows(range(2, 50)))
    times, reasons, _ = replay(path)
    assert times == times_of(range(50))
    assert [reason.split(":")[0] for reason in reasons] == ["station.csv line 4"]


def test_a_file_of_old_mac_line_ends_is_read(tmp_path):
    path = write(tmp_path, (HEADER + rows(range(3))).replace("\n", "\r"))
    times, reasons, _ = replay(path)
    assert (times, reasons) == (times_of(range(3)), [])


def test_a_quote_that_never_closes_loses_its_line_only(tmp_path):
    path = write(tmp_path, HEADER + row(0) + f'{T0 + 60},s,"oops,1,1000\n' + rows(range(2, 200)))
    times, reasons, _ = replay(path)
    assert times == times_of([0, *range(2, 200)])
    assert reasons == [
        f"station.csv line 3: a quote opened here does not close within {MAX_RECORD_LINES} lines"
    ]


def test_quoted_line_breaks_in_a_cell_are_still_one_row(tmp_path):
    path = write(tmp_path, HEADER + row(0) + f'{T0 + 60},s,"two\nlines",1,1000\n' + row(2))
    source = ReplaySource(
        path, clock=FixedClock(0), pace="fast", csv_columns=csv_columns(MAPPING, STANDARD_VARIABLES)
    )
    observations = source.poll()
    assert [o.observed_at for o in observations] == times_of(range(3))
    assert source.drain_rejections() == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("timestamp,x" + "y" * 200_000 + "\n" + row(0), "line 1: unreadable CSV: field larger"),
        (b"timestamp,\xff\n".decode("latin-1"), "line 1: not UTF-8"),
    ],
    ids=["huge-header", "undecodable-header"],
)
def test_a_header_that_cannot_be_read_is_one_error(tmp_path, text, reason):
    path = tmp_path / "station.csv"
    path.write_bytes(text.encode("latin-1") if "\xff" in text else text.encode())
    with pytest.raises(CsvHeaderError, match=reason):
        replay(path)


def test_headless_on_a_header_of_escape_sequences_says_so_in_one_escaped_line(tmp_path):
    csv = write(tmp_path, "Time,\x1b]0;PWNED\x07\x1b[2J\x1b[31mRED,temp\n1767225600,1,2\n")
    result = headless(tmp_path, csv, MAPPING_TOML)
    assert result.returncode == 2
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "Time, \\x1b]0;PWNED\\x07\\x1b[2J\\x1b[31mRED, temp" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_headless_counts_every_row_of_a_file_with_a_huge_cell(tmp_path):
    big = f"{T0 + 1500 * 60},s,{'x' * 200_000},1,1000\n"
    csv = write(tmp_path, HEADER + rows(range(1500)) + big + rows(range(1501, 3000)))
    result = headless(tmp_path, csv, MAPPING_TOML)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "2,999 observations stored, 0 duplicates, 1 messages" in result.stderr


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_headless_on_a_file_it_cannot_read_exits_2_in_one_line(tmp_path, kind):
    """It exited 0 after 'replay finished (0 observations)': as if an empty file had played."""
    path = tmp_path / "station.jsonl"
    if kind == "directory":
        path.mkdir()
    result = headless(tmp_path, path, "")
    assert result.returncode == 2
    assert result.stderr.startswith(f"mass-tui: config error: source replay: cannot read {path}")
    assert len(result.stderr.splitlines()) == 1


def test_a_mapped_column_twice_in_the_header_is_an_error_not_a_guess(tmp_path):
    """It read the first 'temp' and dropped the second's readings without a word."""
    path = write(tmp_path, "timestamp,station,name,temp,temp,pres\n" + f"{T0},s,S,,12,1000\n")
    with pytest.raises(CsvHeaderError, match=r"column 'temp' .* is in the header 2 times"):
        replay(path)


def test_iso_end_of_day_after_the_t_is_the_next_midnight():
    from pipeline.sources.replay_csv import TimeParser

    assert TimeParser().parse("2026-01-01T24:00:00Z") == T0 + 86_400
    assert TimeParser().parse("2026-01-01 24:00") == T0 + 86_400


@pytest.mark.parametrize("text", ["2026-01-01 24:00:01", "2026-01-01T24:00:00.5Z", "24:00:30"])
def test_past_the_end_of_a_day_is_no_time(text):
    """24:00:01 was read as 00:00:01 the next day."""
    from pipeline.sources.replay_csv import TimeParser

    with pytest.raises(ValueError):
        TimeParser().parse(text)


def test_a_quote_inside_a_cell_is_an_ordinary_character(tmp_path):
    """O"Hare opens no quoted cell (as the csv module reads it): counting every quote joined
    rows 3 to 13 into one unreadable record and lost ten sound rows."""
    body = "".join(row(i, 'O"Hare' if i in (2, 12) else "S") for i in range(20))
    path = write(tmp_path, HEADER.replace("pres", 'pres,Rain (")') + body)
    times, reasons, _ = replay(path)
    assert (times, reasons) == (times_of(range(20)), [])


def test_an_unreadable_record_of_several_lines_loses_its_first_line_only(tmp_path):
    """A quoted cell over the csv module's limit across two lines: the joined record is
    refused, and the line after the first is read again (and refused on its own)."""
    huge = "x" * 200_000
    path = write(
        tmp_path, HEADER + row(0) + f'{T0 + 60},s,"a\n{huge}",1,1000\n' + rows(range(2, 10))
    )
    times, reasons, _ = replay(path)
    assert times == times_of([0, *range(2, 10)])
    assert [reason.split(":")[0] for reason in reasons] == [
        "station.csv line 3",
        "station.csv line 4",
    ]


def test_the_end_of_the_last_day_datetime_holds_is_one_bad_row(tmp_path):
    """9999-12-31 24:00 raised OverflowError out of the reader: the replay ended there, the
    batch read before it was lost, and the summary said nothing was."""
    body = (
        row(0, "S")
        + "9999-12-31T24:00:00Z,s,S,1,1000\n"
        + "".join(row(i, "S") for i in range(1, 5))
    )
    times, reasons, _ = replay(write(tmp_path, HEADER + body))
    assert times == [T0 + i * 60 for i in range(5)]
    assert len(reasons) == 1 and "out of range" in reasons[0]
