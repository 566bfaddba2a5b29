"""``mass-tui config show`` and ``mass-tui config path``: every effective setting with the
layer it came from, and the files settings are read from."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from typing import Any

import msgspec

from mass_tui.config import CONFIG_VARIABLE, DEFAULTS_LAYER, LoadedSettings
from pipeline.sources.http_client import redact, url_secrets
from pipeline.text import printable

# Settings whose values carry credentials: a webhook's token is in its URL's path (the host is
# shown); an Apprise URL's anywhere after its scheme (only the scheme is shown).
WEBHOOK_URL = "alerts.webhook.url"
APPRISE_URLS = "alerts.apprise.urls"


def add_config_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
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
        for file in loaded.files:
            print(f"read: {printable(str(file))}")
        if not loaded.files:
            print("read: none (built-in defaults, the environment and flags only)")
        return 0
    width = 0
    lines = []
    for key, value in _leaves(msgspec.to_builtins(loaded.settings), ""):
        shown = printable(_toml(_redacted(key, value)))
        lines.append((f"{key} = {shown}", loaded.provenance.get(key, DEFAULTS_LAYER)))
        width = max(width, len(lines[-1][0]))
    for text, origin in lines:
        note = "" if origin == DEFAULTS_LAYER else f"  # {printable(origin)}"
        print(f"{text:{min(width, 60)}}{note}".rstrip())
    return 0


def _leaves(tree: dict[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, f"{prefix}{key}.")
        elif value is not None:  # TOML has no null: an unset optional setting is left out
            yield f"{prefix}{key}", value


def _toml(value: Any) -> str:
    """``value`` as a TOML value on one line (arrays and inline tables included)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return msgspec.json.encode(value).decode()  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    return repr(value)


def _redacted(key: str, value: Any) -> Any:
    if key == WEBHOOK_URL and value:
        return redact(value, url_secrets(value))
    if key == APPRISE_URLS:
        return [url.partition("://")[0] + "://***" for url in value]
    return value
