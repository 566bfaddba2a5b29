"""``mass-tui web``: the console in a browser tab, served by textual-serve; each tab runs a
console attached to the service (the one on the data directory, or ``--attach URL``).

It serves loopback only: a tab is a console that can acknowledge and silence alerts, and
textual-serve has no login of its own. Reach it from elsewhere through an SSH tunnel
(``ssh -L 8000:localhost:8000 host``) or a reverse proxy that authenticates.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from mass_tui.config import ConfigError, LoadedSettings
from mass_tui.http.access import is_loopback
from mass_tui.service_file import running_service


def console_command(loaded: LoadedSettings, config: Path | None, attach_url: str | None) -> str:
    """The command each tab runs: this console, attached."""
    command = [sys.executable, "-m", "mass_tui", "--data-dir", str(loaded.data_dir)]
    if config is not None:
        command += ["--config", str(config)]
    if attach_url:
        command += ["--attach", attach_url]
    return shlex.join(command)


def run_web(
    loaded: LoadedSettings,
    *,
    host: str,
    port: int,
    config: Path | None,
    attach_url: str | None,
) -> int:
    if not is_loopback(host):
        raise ConfigError(
            f"mass-tui web serves loopback only (not {host}): each tab can acknowledge alerts "
            "and textual-serve has no login; use an SSH tunnel or an authenticating reverse proxy"
        )
    if attach_url is None and running_service(loaded.data_dir) is None:
        raise ConfigError(
            f"no service runs on {loaded.data_dir}: start `mass-tui service` there first (tabs "
            "attach to it), or give --attach URL"
        )
    from textual_serve.server import Server

    server = Server(
        console_command(loaded, config, attach_url),
        host=host,
        port=port,
        title="M.A.S.S. console",
    )
    print(f"mass-tui web: serving consoles on http://{host}:{port}", file=sys.stderr, flush=True)
    server.serve()
    return 0
