"""``mass-tui config show`` and ``mass-tui config path``: every effective setting with the
layer it came from, and the files settings are read from."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from mass_tui.settings_layers import CONFIG_VARIABLE, DEFAULTS_LAYER, LoadedSettings
from pipeline.stations import Station
from pipeline.text import escaped_json, printable

# An Apprise URL carries its credentials anywhere after the scheme: only the scheme is shown.
APPRISE_URLS = "alerts.apprise.urls"
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def add_config_arguments(
    parser: argparse.ArgumentParser,
) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    actions = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = actions.add_parser(
        "show", help="every effective setting, as TOML, with where it came from"
    )
    path = actions.add_parser("path", help="the settings files: the user's, and those read")
    return show, path


def run_config(args: argparse.Namespace, loaded: LoadedSettings) -> int:
    if args.config_command == "path":
        print(f"user config file: {printable(str(loaded.user_config))}")
        named = os.environ.get(CONFIG_VARIABLE)
        print(f"{CONFIG_VARIABLE}: {printable(named) if named else '(not set)'}")
        dotenv = Path.cwd() / ".env"  # read into the environment first (see mass_tui.cli.load)
        if dotenv.is_file():
            print(f"environment also from: {printable(str(dotenv))}")
        for file in loaded.files:
            print(f"read: {printable(str(file))}")
        if not loaded.files:
            print("read: none (built-in defaults, the environment and flags only)")
        return 0
    lines = []
    for key, value in _leaves(msgspec.to_builtins(loaded.settings), ""):
        dotted = key.replace("\0", ".")  # as the settings name it
        shown = _toml(_redacted(dotted, value))
        origin = loaded.provenance.get(dotted, DEFAULTS_LAYER)
        lines.append((f"{_key_path(key)} = {shown}", origin))
        if key == "stations" and loaded.extra_station is not None:
            origin = loaded.provenance["extra_station"]
            lines.append((f"# stations += {_station(loaded.extra_station)}", origin))
    width = max(len(text) for text, _ in lines)
    for text, origin in lines:
        note = "" if origin == DEFAULTS_LAYER else f"  # {printable(origin)}"
        print(f"{text:{min(width, 60)}}{note}".rstrip())
    return 0


def _station(station: Station) -> str:
    """The station the environment adds, as an inline table; shown as a comment, since it is
    not a setting: a file listing it in ``stations`` would replace the configured ones (and
    have it twice while the variables are set)."""
    table = {
        "id": station.station_id,
        "name": station.name,
        "latitude": station.latitude,
        "longitude": station.longitude,
    }
    return _toml(table)


def _leaves(tree: dict[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every set leaf; the parts of a key are joined with NUL, which no
    TOML key can hold, so a key with a dot in it stays one part (see ``_key_path``)."""
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, f"{prefix}{key}\0")
        elif value is not None:  # TOML has no null: an unset optional setting is left out
            yield f"{prefix}{key}", value


def _key_path(key: str) -> str:
    """A dotted TOML key, each part bare where TOML allows it, else a quoted string."""
    return ".".join(_key(part) for part in key.split("\0"))


def _key(part: str) -> str:
    return part if BARE_KEY.fullmatch(part) else _string(part)


def _string(text: str) -> str:
    """A TOML basic string with every control character escaped: valid TOML (JSON's escapes
    are TOML's) and safe to print to a terminal."""
    return escaped_json(msgspec.json.encode(text).decode())


def _toml(value: Any) -> str:
    """``value`` as a TOML value on one line (arrays and inline tables included)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items() if v is not None)
        return "{ " + inner + " }" if inner else "{}"
    return repr(value)


def _redacted(key: str, value: Any) -> Any:
    """Credentials out: an Apprise URL shows its scheme only; any other URL (the webhook, an
    API base, a broker) loses its user and password, its path and query where they look like
    tokens (see ``url_secrets``)."""
    if key == APPRISE_URLS:
        return [url.partition("://")[0] + "://***" if "://" in url else "***" for url in value]
    if isinstance(value, str) and "://" in value:
        return _url_redacted(value)
    if isinstance(value, list):
        return [_url_redacted(v) if isinstance(v, str) and "://" in v else v for v in value]
    return value


def _url_redacted(url: str) -> str:
    from pipeline.sources.http_client import redact, url_secrets  # httpx: only show needs it

    scheme, _, rest = url.partition("://")
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return redact(f"{scheme}://{authority}{slash}{tail}", url_secrets(url))
