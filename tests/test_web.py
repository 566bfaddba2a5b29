"""``mass-tui web`` in a real browser: headless Chromium loads the page, the console shows
(attached to a running service) and a key press changes what is on screen."""

from __future__ import annotations

import asyncio
import io
import os
import re
import socket
import subprocess
import time

import aiohttp
import httpx
from PIL import Image, ImageChops

from tests.browser import Chromium
from tests.test_service import MASS_TUI, Service

PANEL = (0x1E, 0x28, 0x33)  # the mass-dark theme's panel colour: the status line's background


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def image(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGB")


def shows_the_status_line(shot: Image.Image) -> bool:
    """The console's status line across the top (not textual-serve's loading screen)."""
    row = [shot.getpixel((x, 1)) for x in range(0, shot.size[0], 4)]
    return sum(p == PANEL for p in row) > 0.9 * len(row)


def changed_share(before: Image.Image, after: Image.Image) -> float:
    diff = ImageChops.difference(before, after).convert("L").point(lambda v: 255 if v > 20 else 0)
    return diff.histogram()[255] / (before.size[0] * before.size[1])


def test_the_console_in_a_browser_tab(tmp_path):
    service = Service(tmp_path)
    port = free_port()
    web = subprocess.Popen(
        [*MASS_TUI, "web", "--data-dir", str(service.data), "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    browser = Chromium(tmp_path / "profile")
    try:
        assert web.stderr is not None
        address = re.search(r"open (http://\S+)", web.stderr.readline())[1]
        deadline = time.monotonic() + 30
        while True:  # the web server is up once it accepts a connection
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert web.poll() is None, web.communicate()[1]
                assert time.monotonic() < deadline
                time.sleep(0.2)
        # Without the key printed at start, or from another site's page: refused.
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/").status_code == 403
        assert httpx.get(f"{base}/?key=guess").status_code == 403
        assert asyncio.run(_websocket_status(address, "http://evil.example")) == 403
        before, after = asyncio.run(_look_and_press(browser, address))
        before.save(tmp_path / "console.png")
        after.save(tmp_path / "help.png")
        # The console, not textual-serve's loading screen: its status line across the top...
        assert shows_the_status_line(before)
        # ...and `?` opened the help over it: a large part of the screen changed.
        assert changed_share(before, after) > 0.08
    finally:
        browser.close()
        web.terminate()
        web.communicate(timeout=30)
        code, err = service.stop()
    assert code == 0, err


async def _websocket_status(address: str, origin: str) -> int:
    """The status of a WebSocket handshake to the console with the key's cookie, from
    ``origin`` (what a page of another site would try in the visitor's browser)."""
    async with aiohttp.ClientSession() as session:
        async with session.get(address) as page:  # sets the cookie
            assert page.status == 200
        try:
            async with session.ws_connect(address.split("?")[0] + "ws", headers={"Origin": origin}):
                return 101
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status


async def _look_and_press(browser: Chromium, url: str) -> tuple[Image.Image, Image.Image]:
    page = await browser.open(url)
    try:
        for _ in range(120):  # the console starts in its own process for the tab
            await asyncio.sleep(0.5)
            shot = image(await page.screenshot())
            if shows_the_status_line(shot):
                break
        await asyncio.sleep(1.0)  # the first full frame
        before = image(await page.screenshot())
        focused = await page.send(
            "Runtime.evaluate",
            expression="(() => { const t = document.querySelector('.xterm-helper-textarea');"
            " if (t) { t.focus(); return true } return false })()",
            returnByValue=True,
        )
        assert focused["result"]["value"], "no terminal in the page"
        await page.press("?")
        for _ in range(40):
            await asyncio.sleep(0.25)
            after = image(await page.screenshot())
            if changed_share(before, after) > 0.08:
                break
        return before, after
    finally:
        await page.close()


def test_web_refuses_without_a_service_or_beyond_loopback(tmp_path):
    result = subprocess.run(
        [*MASS_TUI, "web", "--data-dir", str(tmp_path / "d"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "start `mass-tui service`" in result.stderr
    result = subprocess.run(
        [*MASS_TUI, "web", "--host", "0.0.0.0", "--data-dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "loopback only" in result.stderr
