"""A one-line text widget whose updates repaint only itself.

``Static.update`` asks for a layout pass of the whole screen on every call; at four updates a
second across a dozen values that layout was the console's largest CPU cost. A fixed-height
line never changes the layout, so a repaint is all it needs.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from widgets.fitting import fitting


class TextLine(Widget):
    DEFAULT_CSS = """
    TextLine {
        height: 1;
        width: 1fr;
    }
    """

    text: reactive[Text] = reactive(Text, layout=False)
    narrower: reactive[tuple[Text, ...]] = reactive(tuple, layout=False)
    """Shorter forms of ``text``: the first that fits whole is shown when ``text`` does not
    (a panel at 80 columns), the last if none does."""

    def render(self) -> Text:
        return fitting((self.text, *self.narrower), self.size.width)
