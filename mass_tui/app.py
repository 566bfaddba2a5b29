"""The M.A.S.S. console: a Textual app over the embedded pipeline (or an attached service).

The App owns what outlives a screen: the pipeline's start and stop, the themes (the
console's own and Textual's, the choice remembered), the key map, settings saved to the user
config file, and notifications as text. What is on screen, the keys and what they do are the
:class:`~mass_tui.screens.console.ConsoleScreen`'s, its default screen.
"""

from __future__ import annotations

import getpass
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import App
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.theme import Theme
from textual.widgets import Input

from mass_tui.attached import AttachedPipeline, ServiceReader
from mass_tui.screens.console import ConsoleScreen
from mass_tui.screens.console_keys import CONSOLE_KEYS, keys_taken
from mass_tui.settings_layers import ConfigSaveError, LoadedSettings, save_settings
from mass_tui.view import ConsoleView
from pipeline.runtime import Pipeline
from pipeline.store import StoreReader
from pipeline.text import printable
from pipeline.times import file_stamp
from themes import CONSOLE_CSS, THEME_NAMES, THEMES

log = logging.getLogger(__name__)

QUIT_ANYWHERE = "ctrl+q"
HELD_NOTIFICATION_S = 24 * 3600.0  # deterministic mode: a notification stays until dismissed


class MassApp(App[None]):
    TITLE = "M.A.S.S. console"
    CSS_PATH = str(CONSOLE_CSS)
    # Textual's ctrl+q, quitting from any screen, unless ``[ui.keymap]`` gives ctrl+q to one
    # of the console's keys: then that key has it (a priority binding would take it, and hide
    # it from the footer even when it is quit's).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(QUIT_ANYWHERE, "quit_anywhere", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        loaded: LoadedSettings,
        pipeline: Pipeline | AttachedPipeline,
        *,
        reader: StoreReader | ServiceReader | None = None,
        start_pipeline: bool = True,
        user: str | None = None,
        screenshot_dir: Path | None = None,
        deterministic: bool = False,
    ) -> None:
        """``deterministic``: what is on screen depends only on the data and the keys pressed,
        never on when a timer fired (snapshot tests). There is no refresh timer and no
        throttling: the view is redrawn in full at mount, after every user action and on each
        ``main.refresh_view()`` call; the chart draws every change at once; store reads are
        made inline; notifications stay until dismissed. Off (the default), the view
        refreshes at ``ui.refresh_hz`` and the chart, lists and tables are throttled."""
        super().__init__()
        self.loaded = loaded
        self.pipeline = pipeline
        self.reader = reader
        self.start_pipeline = start_pipeline
        self.user = user or _user_name()
        self.screenshot_dir = screenshot_dir or loaded.data_dir / "screenshots"
        self.deterministic = deterministic
        self._saved_theme = loaded.settings.ui.theme  # what the user config file says
        self._quit_anywhere = True  # until [ui.keymap] gives ctrl+q to a console key

    def get_default_screen(self) -> ConsoleScreen:
        variables = self.pipeline.settings.variables
        ui = self.loaded.settings.ui
        return ConsoleScreen(
            ConsoleView(
                station_id=None,
                variable=variables[0].name if variables else "",
                units=ui.units,
                time_shown=ui.time,  # "utc", or "station": its local time
            )
        )

    @property
    def main(self) -> ConsoleScreen:
        """The console's own screen, even while help or the threshold editor is on top."""
        return self.screen_stack[0]  # type: ignore[return-value]

    def on_mount(self) -> None:
        self._apply_keymap(self.loaded.settings.ui.keymap)
        for theme in THEMES:
            self.register_theme(theme)
        for name in [n for n, t in self.available_themes.items() if t.ansi]:
            # The terminal's own default colours cannot be blended (``$foreground 70%``), and
            # the console's styles blend: such a theme would stop it with an error.
            self.unregister_theme(name)
        configured = self.loaded.settings.ui.theme
        if configured in self.available_themes:
            self.theme = configured
        else:
            self.theme = THEME_NAMES[0]
            self.notify(
                f"unknown theme {printable(configured, 40)!r}: using {THEME_NAMES[0]} "
                "(t cycles through the themes, ctrl+p lists them)",
                severity="warning",
            )
        # Whichever way the theme changes (t, the command palette), it is remembered.
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        if isinstance(self.pipeline, AttachedPipeline):  # the service's answers to our keys
            self.pipeline.tell = lambda message, severity: self.call_from_thread(
                self.notify, message, severity=severity, timeout=6
            )
        if self.start_pipeline:
            self.run_worker(self._start_pipeline, thread=True, name="pipeline-start")

    def on_key(self, event: events.Key) -> None:
        """A character typed right after ``f`` or ``/`` (fast, or pasted over SSH) was already
        on its way to the widget focused before, and bubbles here after the key's action moved
        the focus to the box: the box's bindings then skip it, and it was lost. It belongs in
        the box (the box's own keys stop at the box, so what arrives here went elsewhere)."""
        box = self.focused
        if isinstance(box, Input) and event.is_printable and event.character:
            box.insert_text_at_cursor(event.character)

    def _start_pipeline(self) -> None:
        try:
            self.pipeline.start()
        except Exception as exc:  # shown in the UI and the log, never a traceback on screen
            log.exception("pipeline failed to start")
            self.call_from_thread(self.notify, f"pipeline failed to start: {exc}", severity="error")

    def how_it_runs(self) -> tuple[str, str]:
        """How this console runs: a label for the status line, a paragraph for the help."""
        if isinstance(self.pipeline, AttachedPipeline):
            return (
                f"attached · service pid {self.pipeline.service_pid}",
                f"Attached to the service at {printable(self.pipeline.client.url)} (pid "
                f"{self.pipeline.service_pid}): analysis and notifications go on when you quit. "
                "Acknowledgements, silences and threshold changes are sent to it; it applies and "
                "saves them.",
            )
        if self.pipeline.desk.goes_to:
            return (
                "watching",
                f"Watching: {self.pipeline.desk.goes_to} do the analysis and go on when you "
                "quit; your acknowledgements and silences are sent to them.",
            )
        return (
            "embedded · stops when you quit",
            "Embedded: this console runs the pipeline itself, and analysis and notifications stop "
            "when you quit. To keep them running, start `mass-tui service` on this data "
            "directory (or install `docs/mass-tui.service` for systemd): `mass-tui` then "
            "attaches to it, and any number of consoles can.",
        )

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """As ``App.notify``, but the message is always text, never markup (``markup`` is
        ignored: ``Widget.notify`` passes True): messages carry station ids and names and
        error messages from outside (an alert of station "[/]" raised MarkupError), with
        control characters escaped again. In deterministic mode the toast does not expire by
        the clock."""
        if self.deterministic:
            timeout = HELD_NOTIFICATION_S
        super().notify(
            printable(message), title=title, severity=severity, timeout=timeout, markup=False
        )

    # -- settings the person changes, remembered -------------------------------------------

    def remember(self, key: str, value: str | Mapping[str, str]) -> None:
        """Save one setting to the user config file; a file that cannot be written is logged
        (the change holds for this session)."""
        try:
            save_settings(self.loaded.user_config, {key: value})
        except ConfigSaveError as exc:
            log.warning("%s", exc)

    def action_next_theme(self) -> None:
        """The console's own themes first, then Textual's, from wherever the theme is now."""
        names = [*THEME_NAMES, *sorted(set(self.available_themes) - set(THEME_NAMES))]
        index = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(index + 1) % len(names)]
        self.notify(f"theme: {self.theme}", timeout=2)

    def _theme_changed(self, theme: Theme) -> None:
        if theme.name != self._saved_theme:
            self._saved_theme = theme.name
            self.remember("ui.theme", theme.name)
        self.main.refresh_now()

    def _apply_keymap(self, keymap: Mapping[str, str]) -> None:
        """``[ui.keymap]``: binding id -> keys (``"ctrl+a"``, ``"x,y"``). An id no binding has
        is said, not silently ignored, and so is a key it takes from another binding."""
        known = {b.id for b in CONSOLE_KEYS if b.id}
        unknown = sorted(set(keymap) - known)
        if unknown:
            self.notify(
                f"ui.keymap: no key binding {printable(', '.join(unknown), 80)} "
                f"(the ids: {', '.join(sorted(known))})",
                severity="warning",
                timeout=15,
            )
        # Textual's own long form ("?" is question_mark), as the bindings' keys are written.
        keymap = self._normalize_keymap({k: v for k, v in keymap.items() if k in known})
        for taker, key, loser in keys_taken(CONSOLE_KEYS, keymap):
            self.notify(
                f"ui.keymap: {taker} takes the key {printable(key, 20)} from {loser}; "
                f"give {loser} another key in [ui.keymap]",
                severity="warning",
                timeout=15,
            )
        self._quit_anywhere = not any(
            QUIT_ANYWHERE in (key.strip() for key in keys.split(",")) for keys in keymap.values()
        )
        self.set_keymap(keymap)

    def _handle_exception(self, error: Exception) -> None:
        """A fault in the console itself: its traceback goes to the log, the terminal gets one
        line saying so, and the exit status is 1 (Textual would print the traceback and the
        command exit 0). A pilot test still gets the exception raised."""
        log.error("the console stopped on an error", exc_info=error)
        super()._handle_exception(error)
        where = self.loaded.data_dir / "logs" / "mass-tui.log"
        self._exit_renderables[:] = [
            Text(
                f"mass-tui: the console stopped on an error ({type(error).__name__}: "
                f"{printable(str(error), 200)}); the details are in {where}"
            )
        ]

    # -- screenshots and quitting ----------------------------------------------------------

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """Textual's parameters kept (the override must accept them); the key passes none."""
        try:
            self.screenshot_dir.mkdir(parents=True, exist_ok=True)
            stamp = file_stamp(time.time())
            path = self.save_screenshot(
                filename or f"mass-tui-{stamp}.svg", path or str(self.screenshot_dir)
            )
        except OSError as exc:
            self.notify(f"cannot save screenshot: {exc}", severity="error")
            return
        self.notify(f"screenshot saved to {path}", timeout=6)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self._quit_anywhere if action == "quit_anywhere" else True

    async def action_quit_anywhere(self) -> None:
        await self.action_quit()

    async def action_quit(self) -> None:
        self.notify("stopping: flushing the store…", timeout=2)
        await self.run_worker(self.pipeline.stop, thread=True, name="pipeline-stop").wait()
        self.main.reads.close()
        self.exit()


def _user_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
