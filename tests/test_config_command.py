"""``mass-tui config show`` and ``config path``: the effective settings and where each came from."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from mass_tui.cli import main
from mass_tui.settings_layers import load_settings

TOKEN = "T000B000XXXXsecretXXXX"
LOCATION = ("LOCATION_LAT", "LOCATION_LON", "LOCATION_NAME")


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch):
    """A working directory and a user config home of the test's own, no settings variable."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home"))
    for name in ("MASS_TUI_CONFIG", "ALERT_PRESSURE_DROP_HPA", "ALERT_APPRISE_URLS", *LOCATION):
        monkeypatch.delenv(name, raising=False)
    settings = tmp_path / "mine.toml"
    settings.write_text(
        f'[rules.gust]\nadvisory_ms = 18.0\n[alerts.webhook]\nurl = "https://hooks.example/{TOKEN}"\n'
    )
    return settings


def test_show_names_the_layer_of_each_setting_and_hides_credentials(elsewhere, monkeypatch, capsys):
    monkeypatch.setenv("ALERT_PRESSURE_DROP_HPA", "4")
    monkeypatch.setenv("ALERT_APPRISE_URLS", "tgram://123456:ABCsecret/987")
    assert main(["config", "show", "--config", str(elsewhere)]) == 0
    lines = {line.split(" = ")[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["rules.gust.advisory_ms"].endswith(f"# {elsewhere}")
    assert lines["rules.pressure_fall.advisory_hpa"].endswith(
        "# environment ALERT_PRESSURE_DROP_HPA"
    )
    assert "#" not in lines["rules.gust.warning_ms"]  # a default says nothing
    assert lines["alerts.webhook.url"].startswith(
        'alerts.webhook.url = "https://hooks.example/***"'
    )
    assert lines["alerts.apprise.urls"].startswith('alerts.apprise.urls = ["tgram://***"]')
    assert TOKEN not in str(lines) and "ABCsecret" not in str(lines)


def test_what_show_prints_is_a_settings_file_giving_the_same_settings(elsewhere, capsys, tmp_path):
    plain = tmp_path / "plain.toml"
    plain.write_text("[rules.gust]\nadvisory_ms = 18.0\n[detectors.zscore]\nwindow = 30\n")
    assert main(["config", "show", "--config", str(plain)]) == 0
    shown = tmp_path / "shown.toml"
    shown.write_text(capsys.readouterr().out)
    tomllib.loads(shown.read_text())  # valid TOML, comments and all
    again = load_settings(config_path=shown, environ={}, user_config=tmp_path / "none.toml")
    first = load_settings(config_path=plain, environ={}, user_config=tmp_path / "none.toml")
    assert again.settings == first.settings


def test_path_lists_the_user_file_and_the_files_read(elsewhere, capsys, tmp_path):
    assert main(["config", "path", "--config", str(elsewhere)]) == 0
    out = capsys.readouterr().out
    assert f"user config file: {tmp_path / 'home' / 'mass-tui' / 'config.toml'}" in out
    assert f"read: {elsewhere}" in out and "MASS_TUI_CONFIG: (not set)" in out


def test_show_hides_user_info_and_control_characters_and_stays_toml(
    elsewhere, monkeypatch, capsys, tmp_path
):
    hostile = tmp_path / "hostile.toml"
    hostile.write_text(
        '[ui]\ntheme = "a\\u007fb\\u0085c\\u001b[2J"\n[ui.keymap]\n"odd key" = "x"\n'
    )
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "https://alice:pw123456@hooks.example/T/B/XXXXXXXX")
    monkeypatch.setenv("WEATHER_API_BASE", "https://k:apisecret99@api.example.com/")
    monkeypatch.setenv("ALERT_APPRISE_URLS", "discord:/webhook_id/SUPERSECRETTOKEN")
    assert main(["config", "show", "--config", str(hostile)]) == 0
    out = capsys.readouterr().out
    for secret in ("pw123456", "alice", "apisecret99", "SUPERSECRETTOKEN"):
        assert secret not in out
    assert not any(0x7F <= ord(c) <= 0x9F or (ord(c) < 0x20 and c != "\n") for c in out)
    parsed = tomllib.loads(out)
    assert parsed["ui"]["theme"] == "a\x7fb\x85c\x1b[2J"
    assert parsed["ui"]["keymap"] == {"odd key": "x"}


def _values(text: str) -> list[str]:
    """The lines of ``config show`` without the layer each came from."""
    return [line.split("  # ")[0].rstrip() for line in text.splitlines()]


def _same(shown: Any, held: Any, key: str = "") -> None:
    """Equal and of the same type throughout (``10 == 10.0`` would hide an integer shown as a
    float); TOML has no null, so an unset optional setting is not shown."""
    if isinstance(held, dict):
        expected = {k: v for k, v in held.items() if v is not None}
        assert shown.keys() == expected.keys(), key
        for k, v in expected.items():
            _same(shown[k], v, f"{key}.{k}")
    elif isinstance(held, list):
        assert len(shown) == len(held), key
        for i, (a, b) in enumerate(zip(shown, held, strict=True)):
            _same(a, b, f"{key}[{i}]")
    else:
        assert (type(shown), shown) == (type(held), held), key


def test_integers_show_as_integers_and_every_number_loads_back_as_it_is(
    elsewhere, capsys, tmp_path
):
    plain = tmp_path / "plain.toml"
    plain.write_text("[logging]\nmax_bytes = 10485760\n[detectors.zscore]\nwindow = 30\n")
    assert main(["config", "show", "--config", str(plain)]) == 0
    first = capsys.readouterr().out
    assert re.search(r"^logging\.max_bytes = 10485760 +# ", first, re.MULTILINE)
    loaded = load_settings(config_path=plain, environ={}, user_config=tmp_path / "none.toml")
    _same(tomllib.loads(first), msgspec.to_builtins(loaded.settings))
    # What show prints, read as a settings file, shows again the same: every number set.
    shown = tmp_path / "shown.toml"
    shown.write_text(first)
    assert main(["config", "show", "--config", str(shown)]) == 0
    assert _values(capsys.readouterr().out) == _values(first)


def test_a_station_from_the_environment_is_shown_with_the_variables_it_came_from(
    elsewhere, monkeypatch, capsys, tmp_path
):
    monkeypatch.setenv("LOCATION_LAT", "52.2")
    monkeypatch.setenv("LOCATION_LON", "0.12")
    monkeypatch.setenv("LOCATION_NAME", "Camb\x1b[2Jridge")
    assert main(["config", "show", "--config", str(elsewhere)]) == 0
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if line.startswith("# stations += ")]
    assert line.endswith("# environment LOCATION_LAT, LOCATION_LON, LOCATION_NAME")
    shown = tomllib.loads("s = " + line.removeprefix("# stations += ").split("  # ")[0])["s"]
    assert shown == {"id": "local", "name": "Camb\x1b[2Jridge", "latitude": 52.2, "longitude": 0.12}
    assert "\x1b" not in out
    # A comment: the output still loads to the same settings, and (the variables still set)
    # to the same stations, the local one once.
    again = tmp_path / "shown.toml"
    again.write_text(out)
    loaded = load_settings(config_path=again, user_config=tmp_path / "none.toml")
    assert [s.station_id for s in loaded.stations][-1:] == ["local"]
    assert loaded.extra_station == loaded.stations[-1]
