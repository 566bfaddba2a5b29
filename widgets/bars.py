"""A sparkline drawn as one run of text per line.

Textual's ``Sparkline`` gives every bar its own colour on a gradient, so each cell is written
with its own escape sequence, on every redraw: the eight panels' sparklines were 8 of the
22 KB/s the console wrote at 120x40. Here a bar's height alone says its value, in the
widget's one colour, and each line goes out as one styled run. The bars are Textual's, cell
for cell: the data in ``width`` buckets, each bucket's max scaled between the data's min and
max over ``8 x height - 1`` steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

BARS = "▁▂▃▄▅▆▇█"


def bar_lines(data: Sequence[float], width: int, height: int) -> list[str]:
    """The sparkline of ``data`` as ``height`` lines of ``width`` characters, top first."""
    if width <= 0 or height <= 0:
        return [""] * max(height, 0)
    if not data:
        return [" " * width] * (height - 1) + ["▁" * width]
    if len(data) == 1:
        return ["█" * width] * height
    low, high = min(data), max(data)
    extent = high - low or 1
    step = Fraction(len(data), width)
    buckets = [data[int(step * b) : int(step * (b + 1))] for b in range(width)]
    buckets = [bucket for bucket in buckets if bucket]
    stride = len(buckets) / width
    levels = len(BARS) * height - 1
    heights, where = [], 0.0
    for _ in range(width):  # summed, not multiplied: the same float steps as Textual's
        heights.append(int((max(buckets[int(where)]) - low) / extent * levels))
        where += stride
    lines = []
    for row in reversed(range(height)):
        floor, ceiling = row * len(BARS), (row + 1) * len(BARS)
        lines.append(
            "".join(
                " " if h < floor else "█" if h >= ceiling else BARS[h % len(BARS)] for h in heights
            )
        )
    return lines


class Bars(Widget):
    DEFAULT_CSS = """
    Bars { color: $primary; height: 1; }
    """

    data: reactive[tuple[float, ...]] = reactive(tuple, layout=False)

    def render(self) -> Text:
        lines = bar_lines(self.data, self.size.width, self.size.height)
        return Text("\n".join(lines), no_wrap=True, overflow="crop")
