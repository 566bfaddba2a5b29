"""The console's own commands in the command palette (ctrl+p), beside Textual's (themes...).

Every key binding of the console screen with a help line is a command, so the palette and the keys
cannot drift apart; and each station is one (jump to it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.style import Style

from mass_tui.screens.console_keys import CONSOLE_KEYS
from pipeline.text import printable


class ConsoleCommands(Provider):
    def _commands(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        """(title, help, callback) of every command, actions first, then stations."""
        from mass_tui.screens.console import ConsoleScreen  # which imports this module

        console = self.screen
        assert isinstance(console, ConsoleScreen)  # the only screen with this provider
        for binding in CONSOLE_KEYS:
            if binding.id and binding.tooltip:
                title = binding.tooltip[0].upper() + binding.tooltip[1:]
                keys = self.app.get_key_display(binding)
                yield title, f"key {keys}", partial(console.run_action, binding.action)
        for station_id, name in console.station_names().items():
            title = f"Station: {printable(name, 60)} ({printable(station_id, 30)})"
            yield title, "show this station", partial(console.show_station, station_id)

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(Content(title), callback, text=title, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score, offsets = matcher.fuzzy_search.match(matcher.query, title)
            if score > 0:
                yield Hit(
                    score,
                    _highlighted(title, offsets, matcher.match_style),
                    callback,
                    title,
                    help=help_text,
                )


def _highlighted(title: str, offsets: Sequence[int], style: Style) -> Content:
    """``title`` as text with the matched characters styled: ``Matcher.highlight`` reads its
    candidate as markup, and station names are data (a station "[/]" stopped the palette)."""
    content = Content(title)
    for offset in offsets:
        if not title[offset].isspace():
            content = content.stylize(style, offset, offset + 1)
    return content
