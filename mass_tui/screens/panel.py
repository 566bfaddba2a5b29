"""A modal panel over the console: the frame the detail and statistics views share."""

from __future__ import annotations

from typing import TypeVar

from textual.screen import ModalScreen

ResultT = TypeVar("ResultT")


class PanelScreen(ModalScreen[ResultT]):
    """Centred, 90 % of the terminal, at most 100 columns; its first child is the panel."""

    DEFAULT_CSS = """
    PanelScreen { align: center middle; }
    PanelScreen > * {
        width: 90%;
        max-width: 100;
        height: 90%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    """
