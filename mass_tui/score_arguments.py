"""The flags of ``mass-tui score``, apart from :mod:`mass_tui.scoring`: the command line builds
every subcommand's flags for ``mass-tui --help``, and scoring loads numpy and the detectors,
which only running ``score`` needs."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.detector_axis import STATISTICAL

OUTPUT_COLUMNS = ("anomaly_score", *(f"{name}_score" for name in STATISTICAL))
"""The columns score adds. An input column of one of these names is refused (exit 2): it would
be overwritten, or written twice."""


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def add_score_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``mass-tui score``, which :func:`mass_tui.scoring.run_score` reads."""
    parser.add_argument(
        "input",
        type=Path,
        metavar="INPUT.csv",
        help="a CSV with a header line; every row is written back with the columns "
        f"{', '.join(OUTPUT_COLUMNS)} added, so an input column of one of those names is "
        "refused (rename it). Rows that cannot be scored are told on stderr with their line "
        "number",
    )
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
