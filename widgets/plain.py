"""Text from outside (station ids and names, sources, error messages) as widgets show it.

Textual reads a ``str`` table cell or notification as markup: a station called ``[/]`` raised
``MarkupError`` inside the render and took the console down, and ``[b]x[/]`` showed as a bold
``x``. :func:`plain` makes it text that is shown as it is, with control characters escaped
again (:func:`pipeline.text.printable`): validation escaped them already, but a widget does not
rely on every path to it having gone through validation.
"""

from __future__ import annotations

from rich.text import Text

from pipeline.text import printable


def plain(text: str, style: str = "", width: int | None = None) -> Text:
    """``width``: a table column's, so a longer text ends in ``…`` rather than being cropped
    where nothing shows that it was."""
    return Text(printable(text, width), style=style, no_wrap=True, end="")
