"""``mass-tui export``: the store's records as a file another tool reads (see pipeline.export)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mass_tui.settings_layers import LoadedSettings
from pipeline.export import FORMATS, WHATS, ExportError, ExportRequest, Format, export
from pipeline.text import printable
from pipeline.times import iso_utc, parse_instant

SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}


def _instant(text: str) -> float:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Write what the store kept to a file: observations (every variable, the source and the "
        "QC flags), anomalies, or alert transitions (opened, escalated, acknowledged, silenced, "
        "cleared, with who). Times are UTC. Works while a console or the service is running."
    )
    parser.epilog = (
        "examples:\n"
        "  mass-tui export --since 2026-12-01 --output week.parquet\n"
        "  mass-tui export --what anomalies --station lon --station nyc --output a.csv\n"
        "  mass-tui export --what alerts --format jsonl | jq .transition\n"
        "\n"
        "exit status: 0 written; 1 none of the --station ids is in the store (the file is\n"
        "still written, with no records; some unknown among known ones are only warned of);\n"
        "2 the export could not be done (no file is left under the name asked for)."
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--what", choices=WHATS, default="observations", help="default: %(default)s"
    )
    parser.add_argument(
        "--since", type=_instant, metavar="TIME", help="ISO 8601 (UTC unless it says) or epoch s"
    )
    parser.add_argument("--until", type=_instant, metavar="TIME", help="inclusive")
    parser.add_argument(
        "--station", action="append", default=[], metavar="ID", help="only these (repeatable)"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="default: from the output's suffix (.csv, .jsonl, .parquet), else csv",
    )
    parser.add_argument(
        "--output", default="-", metavar="PATH", help="default: standard output (csv, jsonl)"
    )


def run_export(args: argparse.Namespace, loaded: LoadedSettings) -> int:
    suffix = Path(args.output).suffix.lower() if args.output != "-" else ""
    if args.format is None and suffix and suffix not in SUFFIXES:  # x.json is not JSON lines
        print(
            f"mass-tui export: cannot tell the format from {printable(suffix)!r}: give "
            "--format csv, jsonl or parquet (or a .csv, .jsonl or .parquet name)",
            file=sys.stderr,
        )
        return 2
    fmt = args.format or SUFFIXES.get(suffix, "csv")
    if args.since is not None and args.until is not None and args.since > args.until:
        print("mass-tui export: --since is after --until", file=sys.stderr)
        return 2
    request = ExportRequest(args.what, fmt, args.since, args.until, tuple(args.station))
    try:
        result = export(loaded.database_path, request, args.output)
    except ExportError as exc:
        print(f"mass-tui export: {printable(str(exc))}", file=sys.stderr)
        return 2
    nothing_matched = bool(request.stations) and set(result.unknown_stations) == set(
        request.stations
    )
    if result.unknown_stations:
        unknown = ", ".join(printable(repr(s)) for s in result.unknown_stations)
        store = printable(str(loaded.database_path))
        print(
            f"mass-tui export: none of the stations asked for is in {store}: {unknown}"
            if nothing_matched
            else f"mass-tui export: warning: not in {store}, so not in the export: {unknown}",
            file=sys.stderr,
        )
    span = " ".join(
        part
        for part in (
            f"since {iso_utc(args.since)}" if args.since is not None else "",
            f"until {iso_utc(args.until)}" if args.until is not None else "",
        )
        if part
    )
    where = "standard output" if args.output == "-" else args.output
    print(
        printable(
            f"mass-tui export: {result.count:,} {args.what}{' ' + span if span else ''} to {where}"
        ),
        file=sys.stderr,
    )
    return 1 if nothing_matched else 0
