"""Rendered text written as runs of one style, not a cell at a time.

Textual writes each segment of a line with its own escape sequence. Text made from ANSI
output (plotext's chart) or styled cell by cell comes as a segment per character even where
the style does not change; joining neighbours of the same style makes the same picture with
an escape sequence per run.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.segment import Segment


class Runs:
    """``renderable``, with neighbouring segments of the same style joined."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from Segment.simplify(console.render(self.renderable, options))
