"""A real headless Chromium driven over the DevTools protocol (CDP) for the browser tests: open
a page, press keys, take screenshots. The protocol is a JSON message per websocket frame;
aiohttp (a dependency of textual-serve) is the websocket client."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import shutil
import subprocess
from pathlib import Path

import aiohttp

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


class Chromium:
    """``chromium --headless`` with a throwaway profile, its DevTools port on loopback."""

    def __init__(self, profile: Path, size: tuple[int, int] = (1280, 860)) -> None:
        binary = chromium_path()
        if binary is None:
            raise RuntimeError("no chromium: .ci/run installs the Debian package")
        self.proc = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",  # CI runs as root
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            found = re.search(r"DevTools listening on ws://([\d.]+:\d+)/", line)
            if found:
                self.address = found[1]
                break
        else:
            raise RuntimeError("chromium did not start")

    async def open(self, url: str) -> Page:
        async with (
            aiohttp.ClientSession() as session,
            session.put(f"http://{self.address}/json/new?{url}") as response,
        ):
            target = await response.json()
        page = Page(target["webSocketDebuggerUrl"])
        await page.connect()
        return page

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Page:
    def __init__(self, websocket_url: str) -> None:
        self.websocket_url = websocket_url
        self._ids = itertools.count(1)

    async def connect(self) -> None:
        self._session = aiohttp.ClientSession()
        self._socket = await self._session.ws_connect(self.websocket_url, max_msg_size=0)

    async def send(self, method: str, **params) -> dict:
        message_id = next(self._ids)
        await self._socket.send_str(
            json.dumps({"id": message_id, "method": method, "params": params})
        )
        while True:
            reply = json.loads((await asyncio.wait_for(self._socket.receive(), 30)).data)
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    async def screenshot(self) -> bytes:
        shot = await self.send("Page.captureScreenshot", format="png")
        return base64.b64decode(shot["data"])

    async def press(self, key: str) -> None:
        """A key as a person types it: down, the character, up (to the focused element)."""
        await self.send("Input.dispatchKeyEvent", type="keyDown", key=key, text=key)
        await self.send("Input.dispatchKeyEvent", type="keyUp", key=key)

    async def close(self) -> None:
        await self._socket.close()
        await self._session.close()
