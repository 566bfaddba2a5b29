"""``mass-tui web``: the console in a browser tab, served by textual-serve; each tab runs a
console attached to the service (the one on the data directory, or ``--attach URL``).

A tab is a console that can acknowledge and silence alerts, and textual-serve has no login of
its own, so: it serves loopback only (reach it from elsewhere through an SSH tunnel, ``ssh -L
8000:localhost:8000 host``, or a reverse proxy that authenticates), and every request needs
the key made at start and printed with the address: given once in the URL, then kept in a
``SameSite=Strict`` cookie. Another user of the machine cannot open a console without the key,
and another web site cannot open the console's WebSocket from a visitor's browser (it has no
cookie there, and its Origin is refused too).
"""

from __future__ import annotations

import hmac
import secrets
import shlex
import sys
from pathlib import Path

from aiohttp import web
from textual_serve.server import Server

from mass_tui.http.access import is_loopback
from mass_tui.service_file import running_service
from mass_tui.settings_layers import ConfigError, LoadedSettings

COOKIE = "mass_tui_web_key"


class GuardedServer(Server):
    """textual-serve's server, every request but its static files behind the key."""

    def __init__(self, command: str, *, host: str, port: int, key: str) -> None:
        super().__init__(command, host=host, port=port, title="M.A.S.S. console")
        self.key = key
        self.origins = {f"http://{name}:{port}" for name in (host, "localhost", "127.0.0.1")}

    def _known(self, presented: str | None) -> bool:
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self.key.encode())

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()

        @web.middleware
        async def guard(request: web.Request, handler):
            if request.path.startswith("/static/"):
                return await handler(request)
            given = request.query.get("key")
            if not (self._known(given) or self._known(request.cookies.get(COOKIE))):
                raise web.HTTPForbidden(
                    text="mass-tui web: open the address it printed at start (with its key)\n"
                )
            origin = request.headers.get("Origin")
            if origin is not None and origin not in self.origins:
                raise web.HTTPForbidden(text="mass-tui web: another site's page\n")
            response = await handler(request)
            if given:
                response.set_cookie(COOKIE, self.key, httponly=True, samesite="Strict")
            return response

        app.middlewares.append(guard)
        return app


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
    key = secrets.token_urlsafe(18)
    server = GuardedServer(
        console_command(loaded, config, attach_url), host=host, port=port, key=key
    )
    shown = f"[{host}]" if ":" in host else host
    print(f"mass-tui web: open http://{shown}:{port}/?key={key}", file=sys.stderr, flush=True)
    server.serve()
    return 0
