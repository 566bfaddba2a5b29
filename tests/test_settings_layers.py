import re
from pathlib import Path

import pytest

from mass_tui.settings_layers import ConfigError, ConfigSaveError, load_settings, save_settings


def load(tmp_path: Path, *, files: dict[str, str] | None = None, env=None, flags=None, config=None):
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    return load_settings(
        config_path=tmp_path / config if config else None,
        flags=flags,
        environ=env or {},
        user_config=tmp_path / "user.toml",
    )


def test_defaults_without_any_file(tmp_path):
    loaded = load(tmp_path)
    assert loaded.settings.rules.pressure_fall.advisory_hpa == 3.5
    assert loaded.settings.kafka.topic == "weather_live"
    assert [s.station_id for s in loaded.stations] == ["nyc", "lon", "tyo", "syd", "dxb"]
    assert loaded.files == ()


def test_precedence_flags_over_env_over_config_over_user(tmp_path):
    files = {
        "user.toml": "[detectors.zscore]\nwindow = 10\nthreshold = 3.0\n[ui]\ntheme='a'\n",
        "explicit.toml": "[detectors.zscore]\nwindow = 30\n[kafka]\nclient_id = 'file'\n",
    }
    loaded = load(
        tmp_path,
        files=files,
        config="explicit.toml",
        env={"KAFKA_CLIENT_ID": "env", "KAFKA_TOPIC": "env_topic"},
        flags={"kafka.topic": "flag_topic"},
    )
    s = loaded.settings
    assert s.detectors.zscore.window == 30
    assert s.detectors.zscore.threshold == 3.0
    assert s.ui.theme == "a"
    assert s.kafka.client_id == "env"
    assert s.kafka.topic == "flag_topic"


def test_original_environment_names_apply(tmp_path):
    env = {
        "LOCATION_LAT": "52.2",
        "LOCATION_LON": "0.12",
        "POLL_SECONDS": "30",
        "ALERTS_ENABLED": "false",
        "ALERT_PRESSURE_DROP_HPA": "2.5",
        "ALERT_WIND_GUST_MPS": "18",
        "ALERT_COOLDOWN_MIN": "15",
        "KAFKA_BOOTSTRAP_SERVERS": "broker:9092",
        "KAFKA_GROUP_ID": "g",
        "WEATHER_API_BASE": "http://127.0.0.1:9",
    }
    s = load(tmp_path, env=env)
    assert s.stations[-1].latitude == 52.2 and s.stations[-1].longitude == 0.12
    cfg = s.settings
    assert cfg.source.poll_seconds == 30
    assert cfg.alerts.enabled is False
    assert cfg.rules.pressure_fall.advisory_hpa == 2.5
    assert cfg.rules.gust.advisory_ms == 18
    assert cfg.alerts.cooldown_min == 15
    assert cfg.kafka.bootstrap_servers == "broker:9092"
    assert cfg.kafka.group_id == "g"
    assert cfg.weather.api_base == "http://127.0.0.1:9"


def test_a_stray_config_toml_in_the_working_directory_is_not_read(tmp_path, monkeypatch):
    (tmp_path / "config.toml").write_text("[server]\nport = 80\n")  # some other program's
    monkeypatch.chdir(tmp_path)
    assert load(tmp_path).files == ()


def test_the_config_variable_names_a_file_and_config_wins_over_it(tmp_path):
    (tmp_path / "env.toml").write_text("[kafka]\ntopic = 'from_variable'\n")
    (tmp_path / "flag.toml").write_text("[kafka]\ntopic = 'from_flag'\n")
    named = {"MASS_TUI_CONFIG": str(tmp_path / "env.toml")}
    assert load(tmp_path, env=named).settings.kafka.topic == "from_variable"
    assert load(tmp_path, env=named, config="flag.toml").settings.kafka.topic == "from_flag"
    with pytest.raises(ConfigError, match=r"MASS_TUI_CONFIG=.*missing\.toml: no such file"):
        load(tmp_path, env={"MASS_TUI_CONFIG": str(tmp_path / "missing.toml")})


def test_data_dir_flag_moves_the_database(tmp_path):
    files = {"config.toml": "[storage]\npath = '/somewhere/else.db'\n"}
    loaded = load(
        tmp_path, files=files, config="config.toml", flags={"data_dir": str(tmp_path / "d")}
    )
    assert loaded.database_path == tmp_path / "d" / "mass.sqlite3"


def test_repo_config_toml_documents_exactly_the_defaults(tmp_path):
    """Uncommented, the documented settings parse and equal the built-in defaults."""
    template = (Path(__file__).parent.parent / "config.toml").read_text()
    repo_config = tmp_path / "uncommented.toml"
    repo_config.write_text(re.sub(r"(?m)^# (?=\[|[a-z_]+ *=)", "", template))
    documented = load_settings(
        config_path=repo_config, environ={}, user_config=tmp_path / "none.toml"
    )
    assert documented.settings == load(tmp_path).settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[detectors.zscore\nwindow=3", "invalid TOML"),
        ("[detectors.zscore]\nwindow = -5", "detectors.zscore.window: Expected `int` >= 1"),
        ("[detectors.zscore]\nwindow = 'sixty'", "detectors.zscore.window: Expected `int`"),
        ("[detectors.isolation_forest]\nenabled = true", "detectors.isolation_forest: unknown"),
        ("[rules.rapid_change.thresholds]\ntemprature_c = 3.0", "unknown variable 'temprature_c'"),
        ("[rules.gust]\nadvisory_ms = 30.0\nwarning_ms = 25.0", "rules.gust.warning_ms"),
        ("[[stations]]\nname='x'\nlatitude=95\nlongitude=0", "stations.0.latitude"),
    ],
)
def test_invalid_config_is_one_line_naming_file_key_and_problem(tmp_path, text, expected):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, files={"bad.toml": text}, config="bad.toml")
    message = str(caught.value)
    assert "\n" not in message
    assert str(tmp_path / "bad.toml") in message
    assert expected in message


def test_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="environment: ALERTS_ENABLED"):
        load(tmp_path, env={"ALERTS_ENABLED": "maybe"})
    with pytest.raises(ConfigError, match=r"environment POLL_SECONDS: source\.poll_seconds"):
        load(tmp_path, env={"POLL_SECONDS": "-3"})


def test_saved_setting_is_read_back_at_next_start(tmp_path):
    from mass_tui.settings_layers import save_settings

    user = tmp_path / "user.toml"
    user.write_text("[ui]\ntheme = 'mass-light'\n")
    save_settings(user, {"detectors.zscore.thresholds.temperature_c": 5.5})
    loaded = load(tmp_path)
    assert loaded.settings.detectors.zscore.thresholds == {"temperature_c": 5.5}
    assert loaded.settings.ui.theme == "mass-light"
    assert loaded.overridden_by("detectors.zscore.thresholds.temperature_c") is None
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_higher_layer_that_masks_a_saved_setting_is_named(tmp_path):
    loaded = load(
        tmp_path, files={"config.toml": "[rules.gust]\nadvisory_ms = 18.0\n"}, config="config.toml"
    )
    assert loaded.overridden_by("rules.gust.advisory_ms") == str(tmp_path / "config.toml")
    assert loaded.overridden_by("rules.gust.warning_ms") is None


def test_unwritable_settings_file_raises_a_clear_error(tmp_path):
    from mass_tui.settings_layers import ConfigSaveError, save_settings

    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigSaveError, match=r"cannot save settings to .*file/user\.toml"):
        save_settings(blocker / "user.toml", {"ui.theme": "x"})


def test_a_wrong_value_inside_a_table_names_the_file_and_the_table(tmp_path):
    """It said "built-in defaults: (top level)" for a value in the user's own file."""
    config = tmp_path / "c.toml"
    config.write_text("[source.replay.csv]\nunits = { temperature_c = 5 }\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config_path=config, environ={}, user_config=tmp_path / "u")
    assert str(caught.value) == (
        f"config error: {config}: source.replay.csv.units: Expected `str`, got `int`"
    )


def test_saving_keeps_a_hand_edited_files_comments_and_layout(tmp_path):
    path = tmp_path / "user.toml"
    written = (
        "# my settings\n"
        "[rules.gust]\n"
        "advisory_ms = 17.0  # our coast is windy\n"
        "\n"
        "[ui]\n"
        'theme = "nord"\n'
    )
    path.write_text(written)
    save_settings(path, {"rules.gust.advisory_ms": 18.5, "detectors.zscore.window": 40})
    text = path.read_text()
    assert text.startswith(
        "# my settings\n[rules.gust]\nadvisory_ms = 18.5  # our coast is windy\n"
    )
    assert 'theme = "nord"' in text
    loaded = load(tmp_path)
    assert loaded.settings.rules.gust.advisory_ms == 18.5
    assert loaded.settings.detectors.zscore.window == 40


def test_a_user_file_that_is_not_toml_is_not_overwritten(tmp_path):
    path = tmp_path / "user.toml"
    path.write_text("this is [not toml\n")
    with pytest.raises(ConfigSaveError, match="cannot save settings"):
        save_settings(path, {"ui.theme": "nord"})
    assert path.read_text() == "this is [not toml\n"
