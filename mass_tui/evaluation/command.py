"""``mass-tui evaluate``: every corpus, one report.

The corpora are the simulator (its labels are exact, but it is ours), real station records
(not ours: events labelled by looking, faults written in at fixed places) and generic labelled
series (the ranking of the fused score against a windowed-Gaussian baseline). Defaults are not
tuned on any one of them; all three are reported side by side. The figures depend only on the
settings and the seeds: two runs print the same numbers.
"""

from __future__ import annotations

import argparse
import sys
import time

import msgspec

from mass_tui.settings_layers import LoadedSettings

CORPORA = ("simulator", "real", "generic")


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--corpus",
        action="append",
        choices=CORPORA,
        help="evaluate only this corpus (repeatable; default: all three)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smaller run (4 stations for 1 day, 2 generic seeds): for a smoke test",
    )


def run_evaluate(args: argparse.Namespace, loaded: LoadedSettings) -> int:
    # Here, not at the top: the corpora load numpy and the pipeline, and the command line
    # imports this module to declare the flags.
    from mass_tui.evaluation.generic import evaluate_generic
    from mass_tui.evaluation.real import REAL_RECORDS, evaluate_record
    from mass_tui.evaluation.simulated import evaluate_simulated

    chosen = args.corpus or list(CORPORA)
    stations, days, seeds = (4, 1.0, 2) if args.quick else (20, 4.0, 10)
    report: dict[str, object] = {}
    for corpus in CORPORA:
        if corpus not in chosen:
            continue
        began = time.perf_counter()
        if corpus == "simulator":
            report[corpus] = evaluate_simulated(loaded, stations, days)
        elif corpus == "real":
            report[corpus] = [evaluate_record(loaded, record) for record in REAL_RECORDS]
        else:
            report[corpus] = evaluate_generic(loaded.settings.detectors, seeds)
        if not args.json:
            print(
                f"evaluate: {corpus} done in {time.perf_counter() - began:.1f} s", file=sys.stderr
            )
    if args.json:
        print(msgspec.json.encode(report).decode())
    else:
        print(render(report))
    return 0


def render(report: dict[str, object]) -> str:
    """The report as text a person reads: one block per corpus."""
    lines: list[str] = []
    simulated = report.get("simulator")
    if isinstance(simulated, dict):
        lines.append(
            f"simulator: {simulated['stations']} stations, {simulated['days']} days, "
            f"{simulated['observations']:,} observations"
        )
        lines.extend(_overall(simulated))
        lines.append(
            "  false alarms per 1,000 observations: "
            f"{simulated['false_alarms_per_1k_observations']}; weather alarms a fault "
            f"explains: {simulated['weather_alarms_on_faults']}"
        )
        lines.extend(_kinds(simulated["by_kind"]))
        lines.extend(_detectors(simulated["by_detector"]))
    real = report.get("real")
    if isinstance(real, list):
        lines.append("real records:")
        for record in real:
            lines.append(
                f"  {record['record']}: {record['station_days']} station-days, "
                f"{record['observations']:,} observations, "
                f"{record['rejected_readings']} readings refused"
            )
            lines.append(
                f"    per station-day: statistical {record['statistical_per_station_day']}, "
                f"sensor {record['sensor_per_station_day']}; "
                f"weather-rule anomalies {record['weather_rule_anomalies']}"
            )
            lines.extend("  " + line for line in _kinds(record["labelled_events"]))
            faults = ", ".join(
                f"{kind} {f['reported']}/{f['injected']}" for kind, f in record["faults"].items()
            )
            lines.append(
                f"    injected faults found: {faults or 'none'}; as sensor faults "
                f"{record['faults_reported_as_sensor_faults']}; weather alarms they caused "
                f"{record['weather_alarms_caused_by_faults']}"
            )
            maintenance = record["maintenance_alerts"]
            lines.append(
                f"    maintenance alerts opened: clean {_counts(maintenance['clean'])}; "
                f"with the faults {_counts(maintenance['faulted'])}"
            )
    generic = report.get("generic")
    if isinstance(generic, dict):
        lines.append("generic series: fused anomaly_score vs windowed-Gaussian baseline")
        lines.append(f"  {'series':36} {'ROC-AUC':>8} {'base':>6} {'AP':>7} {'base':>6}")
        for kind, f in generic.items():
            lines.append(
                f"  {kind:36} {f['roc_auc']:8.3f} {f['baseline_roc_auc']:6.3f} "
                f"{f['average_precision']:7.3f} {f['baseline_average_precision']:6.3f}"
            )
    return "\n".join(lines)


def _overall(figures: dict) -> list[str]:
    return [
        f"  anomalies {figures['anomalies']}, false alarms {figures['false_alarms']} "
        f"({figures['false_alarms_per_station_day']} per station-day)",
        f"  precision {figures['precision']}, recall {figures['recall']}, F1 {figures['f1']}, "
        f"windowed score {figures['windowed_score']}",
    ]


def _kinds(by_kind: dict) -> list[str]:
    lines = []
    for kind, f in by_kind.items():
        if not f["events"]:
            continue
        delay = f["median_delay_s"]
        lines.append(
            f"  {kind:16} found {f['detected']}/{f['events']}  precision {f['precision']}  "
            f"F1 {f['f1']}  median delay {'-' if delay is None else f'{delay / 60:.0f} min'}"
        )
    return lines


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "none"


def _detectors(by_detector: dict) -> list[str]:
    cells = [f"{name} {c['explained']}+{c['false']}" for name, c in by_detector.items()]
    return ["  by detector (explained+false): " + ", ".join(cells)] if cells else []
