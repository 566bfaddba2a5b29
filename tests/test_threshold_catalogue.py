"""The threshold catalogue and the settings agree: every entry names settings that exist, and
every threshold the defaults hold has an entry (config.toml documents exactly the defaults,
see test_config)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from mass_tui.settings_layers import ConfigError, Settings, load_settings
from pipeline.detector_axis import DETECTORS
from pipeline.threshold_catalogue import CATALOGUE, PARAMETERS, Parameter

DEFAULTS = msgspec.to_builtins(Settings())

# The numbers of the detectors' and rules' settings that are not thresholds: window lengths,
# smoothing constants, durations. A new number there is either one of these or a catalogue
# entry; this list makes the choice explicit.
NOT_THRESHOLDS = {
    "detectors.zscore.window",
    "detectors.ewma.lam",
    "detectors.ewma.baseline_lam",
    "detectors.ewma.warmup",
    "detectors.cusum.k",
    "detectors.stuck.min_hours",
    "detectors.stuck.bound_hours",
    "rules.pressure_fall.window_hours",
    "rules.rapid_change.window_minutes",
}


def default(dotted: str) -> Any:
    value: Any = DEFAULTS
    for part in dotted.split("."):
        assert isinstance(value, dict) and part in value, f"{dotted}: not in the defaults"
        value = value[part]
    return value


def leaves(tree: dict[str, Any], prefix: str = ""):
    for name, value in tree.items():
        dotted = f"{prefix}{name}"
        if isinstance(value, dict) and name != "thresholds":
            yield from leaves(value, f"{dotted}.")
        else:
            yield dotted, value


def named_settings(p: Parameter) -> list[str]:
    return [p.setting, *([p.fallback] if p.fallback else [])]


@pytest.mark.parametrize("p", PARAMETERS, ids=lambda p: f"{p.detector}.{p.name}")
def test_every_catalogue_entry_names_settings_the_defaults_have(p):
    assert p.detector in DETECTORS
    assert isinstance(default(f"{p.section}.enabled"), bool)
    if p.per_variable:
        assert isinstance(default(p.setting), dict)
    else:
        assert isinstance(default(p.setting), int | float)
        assert not p.fallback
    if p.fallback:
        assert isinstance(default(p.fallback), int | float)
    if p.not_below:
        assert default(p.setting) >= default(f"{p.section}.{p.not_below}")


def test_every_threshold_in_the_defaults_is_in_the_catalogue():
    catalogued = {s for p in PARAMETERS for s in named_settings(p)}
    sections = {p.section for p in PARAMETERS}
    assert len(catalogued) == sum(len(named_settings(p)) for p in PARAMETERS)  # none twice
    found = []
    for dotted, value in leaves({"detectors": DEFAULTS["detectors"], "rules": DEFAULTS["rules"]}):
        section, _, name = dotted.rpartition(".")
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if name == "thresholds" or (section in sections and is_number):
            found.append(dotted)
    uncatalogued = set(found) - catalogued - NOT_THRESHOLDS
    assert not uncatalogued, f"thresholds missing from the catalogue: {sorted(uncatalogued)}"
    assert catalogued <= set(found)
    assert not catalogued & NOT_THRESHOLDS


@pytest.mark.parametrize("d", CATALOGUE.detectors, ids=lambda d: d.name)
def test_every_detector_has_thresholds_and_names_settings_the_defaults_have(d):
    assert [p for p in PARAMETERS if p.detector == d.name]
    if d.named_by:
        assert isinstance(default(d.named_by), str | list | dict)


def test_the_detector_axis_keeps_its_order_and_the_panel_its_labels():
    # Anomalies of one reading are listed in axis order: a new detector comes after these.
    assert DETECTORS[:8] == (
        "zscore", "ewma", "cusum", "stuck", "pressure_fall", "gust", "rapid_change", "gap"
    )  # fmt: skip
    labels = [CATALOGUE.short_label(p.detector, p.name) for p in PARAMETERS]
    assert labels == [
        "z ≥", "EWMA L ≥", "CUSUM h ≥", "stuck ≥", "gap × ≥",
        "fall ≥", "fall warn ≥", "gust ≥", "gust warn ≥", "Δ ≥",
    ]  # fmt: skip
    assert CATALOGUE.shared_rules() == ("pressure_fall", "gust")


def load(tmp_path: Path, text: str):
    (tmp_path / "c.toml").write_text(text)
    return load_settings(
        config_path=tmp_path / "c.toml", environ={}, user_config=tmp_path / "user.toml"
    )


@pytest.mark.parametrize("p", [p for p in PARAMETERS if p.per_variable], ids=lambda p: p.setting)
def test_a_per_variable_table_naming_an_unknown_variable_is_refused(tmp_path, p):
    section, _, table = p.setting.rpartition(".")
    with pytest.raises(ConfigError, match=f"{p.setting}.nope: unknown variable 'nope'"):
        load(tmp_path, f"[{section}.{table}]\nnope = 3.0\n")


@pytest.mark.parametrize("p", [p for p in PARAMETERS if p.not_below], ids=lambda p: p.setting)
def test_a_warning_level_below_its_advisory_is_refused(tmp_path, p):
    low = default(f"{p.section}.{p.not_below}") / 2
    with pytest.raises(ConfigError, match=f"{p.setting}: must not be below {p.not_below}"):
        load(tmp_path, f"[{p.section}]\n{p.setting.rpartition('.')[2]} = {low}\n")
