"""Command line: ``mass-tui`` (the console) and its subcommands (``mass-tui --help``).

Every command turns expected failures (bad config, unwritable store, bad input file) into one
line on stderr and exit status 2; no traceback reaches the terminal.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from dotenv import load_dotenv

import mass_tui
from mass_tui.config_command import add_config_arguments
from mass_tui.evaluation.command import add_evaluate_arguments
from mass_tui.export_command import add_export_arguments
from mass_tui.score_arguments import add_score_arguments
from mass_tui.settings_layers import (
    CONFIG_VARIABLE,
    ENVIRONMENT_KEYS,
    LOCATION_VARIABLES,
    LoadedSettings,
    load_settings,
)
from pipeline.errors import MassError
from pipeline.text import printable

log = logging.getLogger("mass_tui")

# Environment variables whose values must never reach a log file (see .env.example).
SECRET_VARIABLES = (
    "OPENWEATHER_API_KEY",
    "API_KEY",
    "ALERT_WEBHOOK_TOKEN",
    "SMTP_PASS",
    "KAFKA_SASL_PASSWORD",
    "MASS_TUI_API_TOKEN",
    "ALERT_APPRISE_URLS",
)


def _common(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    # On a subcommand the default is SUPPRESS, so it does not overwrite a value given before it.
    default = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        default=default,
        help="settings file (TOML; default: $MASS_TUI_CONFIG, else only the user config "
        "file, ~/.config/mass-tui/config.toml on Linux)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        default=default,
        help="where the database (a producer's spool), screenshots and logs/ go",
    )


SOURCES = ("simulator", "open-meteo", "openweathermap", "replay[:PATH]")


def source_flags(spec: str) -> dict[str, str]:
    """``--source`` as settings: ``replay:PATH`` (or ``replay:`` for the shipped demo stream)."""
    kind, _, path = spec.partition(":")
    if kind not in ("simulator", "open-meteo", "openweathermap", "replay") or (
        path and kind != "replay"
    ):
        raise argparse.ArgumentTypeError(f"unknown source {spec!r} (one of {', '.join(SOURCES)})")
    flags = {"source.kind": kind}
    if kind == "replay":
        flags["source.replay.path"] = path
    return flags


def _source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        type=source_flags,
        default=argparse.SUPPRESS,
        metavar="SOURCE",
        help=f"where observations come from: {', '.join(SOURCES)} (default: simulator)",
    )


def _demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--demo",
        action="store_true",
        default=argparse.SUPPRESS,
        help="simulated time at 600x with a frontal passage at the first station: "
        "a front within a minute",
    )


DEMO_FLAGS = {
    "simulator.time_scale": 600.0,
    "simulator.rate_per_station": 2.0,
    "simulator.demo_front": True,
}


def _broker(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap",
        default=argparse.SUPPRESS,
        metavar="HOST:PORT",
        help="Kafka bootstrap servers (default: kafka.bootstrap_servers, localhost:9092)",
    )


def _duration(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration", type=float, metavar="SECONDS", help="stop after this many wall seconds"
    )


def _http(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--http", metavar="HOST:PORT", help=f"serve {what}")


EPILOG = """\
examples:
  mass-tui                              the console on the station simulator (embedded)
  mass-tui --demo                       simulated time at 600x: a front within a minute
  mass-tui --source replay:obs.jsonl    replay a file of observations
  mass-tui service --http 127.0.0.1:8765   monitoring day and night; consoles attach to it
  mass-tui export --since 2026-12-01 --output week.parquet
  mass-tui config show                  every setting and where it came from

settings, highest precedence first:
  command-line flags; the environment (and ./.env); --config PATH, else the file
  $MASS_TUI_CONFIG names; the user config file (mass-tui config path); built-in defaults.
  The working directory's config.toml is not read.

{environment}
shell completion:
  eval "$(mass-tui completion bash)"      (or zsh, tcsh)
"""


def _environment_help() -> str:
    """The variables settings and secrets are read from, from where each list is kept."""
    names = [CONFIG_VARIABLE, *ENVIRONMENT_KEYS, *LOCATION_VARIABLES, *SECRET_VARIABLES]
    listed = textwrap.fill(
        ", ".join(dict.fromkeys(names)), 88, initial_indent="  ", subsequent_indent="  "
    )
    return "environment (secrets only here or in .env: see .env.example):\n" + listed + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mass-tui",
        description="M.A.S.S. console: live weather observations, rolling analytics, anomalies.",
        epilog=EPILOG.format(environment=_environment_help()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mass-tui {mass_tui.__version__}")
    _common(parser, top=True)
    _source(parser)
    _demo(parser)
    _broker(parser)
    parser.add_argument(
        "--bus",
        choices=("memory", "kafka"),
        default=argparse.SUPPRESS,
        help="memory (default, or bus.kind): the in-process bus; kafka: producer and worker "
        "run in this process through the broker",
    )
    parser.add_argument(
        "--watch",
        action="store_true",
        help="with --bus kafka: attach to a running system as a viewer (workers elsewhere "
        "do the analytics)",
    )
    parser.add_argument(
        "--attach",
        metavar="URL",
        help="attach to the service at URL (e.g. http://host:8765; token from "
        "MASS_TUI_API_TOKEN); without it the console attaches to the service running on its "
        "data directory, if any, else runs embedded",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    completion = commands.add_parser(
        "completion",
        help='print a shell completion script: eval "$(mass-tui completion bash)"',
    )
    completion.add_argument("shell", choices=("bash", "zsh", "tcsh"))

    headless = commands.add_parser(
        "headless", help="run the pipeline with no UI; anomalies as JSON lines on stdout"
    )
    _common(headless)
    _duration(headless)
    _source(headless)
    _demo(headless)

    service = commands.add_parser(
        "service",
        help="run the pipeline day and night with notifications and an HTTP API; consoles "
        "attach to it",
    )
    _common(service)
    _duration(service)
    _source(service)
    _demo(service)
    _http(service, "the API (default: service.http, 127.0.0.1:8765)")
    service.add_argument(
        "--log-stderr", action="store_true", help="log to stderr too (for journald)"
    )

    web = commands.add_parser(
        "web", help="serve the console in a browser (textual-serve), attached to the service"
    )
    _common(web)
    web.add_argument("--host", default="127.0.0.1", help="loopback only (default: 127.0.0.1)")
    web.add_argument("--port", type=int, default=8000, help="default: 8000")
    web.add_argument(
        "--attach", metavar="URL", help="the service's URL (default: the one on --data-dir)"
    )

    produce = commands.add_parser(
        "produce", help="run a source and publish its observations to Kafka"
    )
    _common(produce)
    _duration(produce)
    _source(produce)
    _demo(produce)
    _broker(produce)
    _http(produce, "/healthz and /metrics (default: none)")

    worker = commands.add_parser(
        "worker", help="a Kafka consumer-group member: detect, store, publish anomalies and alerts"
    )
    _common(worker)
    _duration(worker)
    _broker(worker)
    _http(worker, "/healthz and /metrics (default: none)")

    config = commands.add_parser(
        "config", help="the effective settings and where each came from; the settings files"
    )
    for action in add_config_arguments(config):
        _common(action)

    alerts = commands.add_parser("alerts", help="alert notifications")
    alert_commands = alerts.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    alerts_test = alert_commands.add_parser(
        "test", help="send a test notification through each configured notifier"
    )
    _common(alerts_test)

    score = commands.add_parser("score", help="score one CSV series with the statistical detectors")
    add_score_arguments(score)
    _common(score)

    evaluate = commands.add_parser(
        "evaluate", help="measure detection against labelled corpora (simulator, real, generic)"
    )
    add_evaluate_arguments(evaluate)
    _common(evaluate)

    export = commands.add_parser(
        "export",
        help="write stored observations, anomalies or alert transitions to CSV, JSON lines or "
        "Parquet",
    )
    add_export_arguments(export)
    _common(export)

    bench = commands.add_parser(
        "bench", help="measure throughput: the embedded pipeline, or (--bus kafka) a worker"
    )
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument(
        "--observations", type=int, default=200_000, metavar="N", help="default: 200000"
    )
    bench.add_argument(
        "--stations", type=int, default=100, metavar="N", help="simulated; default: 100"
    )
    bench.add_argument(
        "--batch", type=int, metavar="N", help="observations per batch (default: bus.batch_size)"
    )
    bench.add_argument(
        "--bus",
        choices=("memory", "kafka"),
        default="memory",
        help="memory (default): the embedded pipeline; kafka: a worker through a broker, next "
        "to a bare consume loop and the embedded pipeline",
    )
    _broker(bench)
    _common(bench)
    return parser


def _complete_paths(parser: argparse.ArgumentParser, kinds: dict[str, dict]) -> None:
    """Tell shtab which arguments, in every subcommand, complete as files or directories."""
    for action in parser._actions:
        if action.dest in kinds:
            action.complete = kinds[action.dest]  # type: ignore[attr-defined]
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _complete_paths(sub, kinds)


def load(args: argparse.Namespace) -> LoadedSettings:
    load_dotenv(Path.cwd() / ".env", override=False)
    flags: dict[str, object] = {"data_dir": str(args.data_dir) if args.data_dir else None}
    if getattr(args, "demo", False):
        flags.update(DEMO_FLAGS)
    flags.update(getattr(args, "source", {}))
    if getattr(args, "bootstrap", None):
        flags["kafka.bootstrap_servers"] = args.bootstrap
    if getattr(args, "bus", None) and args.command is None:
        flags["bus.kind"] = args.bus
    return load_settings(config_path=args.config, flags=flags)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "completion":
        import shtab

        _complete_paths(
            parser,
            {
                "config": shtab.FILE,
                "output": shtab.FILE,
                "data_dir": shtab.DIRECTORY,
                "input": shtab.FILE,
            },
        )
        print(shtab.complete(parser, shell=args.shell))
        return 0
    try:
        if args.command == "score":
            from mass_tui.scoring import run_score

            return run_score(args, load(args))
        if args.command == "evaluate":
            from mass_tui.evaluation.command import run_evaluate

            return run_evaluate(args, load(args))
        if args.command == "config":
            from mass_tui.config_command import run_config

            return run_config(args, load(args))
        if args.command == "export":
            from mass_tui.export_command import run_export

            return run_export(args, load(args))
        if args.command == "bench" and args.bus == "kafka":
            from mass_tui.bench_kafka import run_kafka_bench

            return run_kafka_bench(args, load(args))
        if args.command == "bench":
            from mass_tui.bench import run_bench

            return run_bench(args, load(args))
        loaded = load(args)
        from mass_tui.logs import setup_logging  # here: it loads httpx, which --help needs not

        webhook = loaded.settings.alerts.webhook.url
        setup_logging(
            loaded.data_dir,
            loaded.settings.logging,
            "mass-tui-service" if args.command == "service" else "mass-tui",
            secrets=[os.environ[k] for k in SECRET_VARIABLES if os.environ.get(k)]
            + loaded.settings.alerts.apprise.urls,
            secret_urls=[webhook] if webhook else [],
            to_stderr=getattr(args, "log_stderr", False),
        )
        if args.command == "headless":
            from mass_tui.headless import run_headless

            return run_headless(loaded, duration=args.duration)
        if args.command == "service":
            from mass_tui.service import run_service

            return run_service(
                loaded, duration=args.duration, http=args.http, reload=lambda: load(args)
            )
        if args.command == "web":
            from mass_tui.web import run_web

            return run_web(
                loaded, host=args.host, port=args.port, config=args.config, attach_url=args.attach
            )
        if args.command == "alerts":
            from mass_tui.notify_check import run_notify_check

            return run_notify_check(loaded)
        if args.command == "produce":
            from mass_tui.produce import run_produce

            return run_produce(loaded, duration=args.duration, http=args.http)
        if args.command == "worker":
            from mass_tui.worker import run_worker

            return run_worker(loaded, duration=args.duration, http=args.http)
        if args.watch and loaded.settings.bus.kind != "kafka":
            print("mass-tui: --watch needs --bus kafka (or bus.kind = kafka)", file=sys.stderr)
            return 2
        from mass_tui.console import run_console

        return run_console(loaded, watch=args.watch, attach_url=args.attach)
    except MassError as exc:  # paths and names in it are the user's, escaped here once
        kind = f"{exc.kind}: " if exc.kind else ""
        print(f"mass-tui: {kind}{printable(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # piped into head(1): stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
