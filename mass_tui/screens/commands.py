"""The console's own commands in the command palette (ctrl+p), beside Textual's (themes...).

Every key binding of the App with a help line is a command, so the palette and the keys
cannot drift apart; and each station is one (jump to it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from pipeline.text import printable


class ConsoleCommands(Provider):
    def _commands(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        """(title, help, callback) of every command, actions first, then stations."""
        from mass_tui.app import MassApp  # here: mass_tui.app imports this module

        app = self.app
        assert isinstance(app, MassApp)  # the only App whose COMMANDS include this provider
        for binding in app.BINDINGS:
            if isinstance(binding, Binding) and binding.id and binding.tooltip:
                title = binding.tooltip[0].upper() + binding.tooltip[1:]
                keys = app.get_key_display(binding)
                yield title, f"key {keys}", partial(app.run_action, binding.action)
        for station_id, name in app.station_names().items():
            title = f"Station: {printable(name, 60)} ({printable(station_id, 30)})"
            yield title, "show this station", partial(app.show_station, station_id)

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
