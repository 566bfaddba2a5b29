"""The panels' sparkline draws Textual's bars, cell for cell, in one run of text a line."""

from __future__ import annotations

import random

import pytest
from rich.console import Console
from textual.renderables.sparkline import Sparkline

from widgets.bars import bar_lines


def textual_lines(data: list[float], width: int, height: int) -> list[str]:
    console = Console(width=width, color_system=None, force_terminal=False)
    with console.capture() as captured:
        console.print(Sparkline(data, width=width, height=height, summary_function=max), end="")
    return captured.get().split("\n")


@pytest.mark.parametrize("seed", range(4))
def test_bars_are_textual_s_sparkline_cell_for_cell(seed):
    rng = random.Random(seed)
    for _ in range(300):
        n = rng.choice([0, 1, 2, 3, 5, 17, 40, 240, 1000])
        data = [rng.uniform(-5, 5) for _ in range(n)]
        if n and rng.random() < 0.2:
            data = [1.5] * n  # flat: no extent
        width, height = rng.randint(1, 60), rng.randint(1, 3)
        ours = [line.rstrip() for line in bar_lines(data, width, height)]
        assert ours == [line.rstrip() for line in textual_lines(data, width, height)]


def test_each_line_is_as_wide_as_asked():
    assert [len(line) for line in bar_lines([1.0, 3.0, 2.0], 7, 2)] == [7, 7]
    assert bar_lines([], 0, 2) == ["", ""]
