"""The help screen: every key, from the App's bindings (remapped keys included)."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

# The rows after the bindings': keys Textual's widgets handle themselves.
MOVING = (
    ("`Tab` / `Shift+Tab`", "", "move focus: stations, variable panels, anomaly log, alerts"),
    ("`↑` `↓` `←` `→`", "", "move within the focused list or between variable panels"),
    ("`ctrl+p`", "", "the command palette: themes, and the console's own actions"),
)

ABOUT = """\
A variable panel's border turns red while it has a recent anomaly. The chart shows the
focused variable with its EWMA line and control band, the threshold lines of its rules and a
mark at each anomaly. Threshold changes apply at once and are saved to your user config file.
Any key can be changed in `[ui.keymap]`: its id = the keys, e.g. `acknowledge = "ctrl+a"`
(several: `"x,ctrl+x"`). The mouse works too: click a station, a panel or a row.
"""


def help_markdown(rows: Sequence[tuple[str, str, str]], running: str = "") -> str:
    """The help page: ``rows`` (keys, binding id, what they do), as the App's bindings say,
    then the rest."""
    lines = ["# M.A.S.S. console — keys", "", "| key | id | what it does |", "|---|---|---|"]
    lines += [f"| {keys} | {id_} | {what} |" for keys, id_, what in (*rows, *MOVING)]
    text = "\n".join(lines) + "\n\n" + ABOUT
    return text + (f"\n## This console\n\n{running}\n" if running else "")


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%;
        max-width: 96;
        height: 90%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def __init__(self, rows: Sequence[tuple[str, str, str]], running: str = "") -> None:
        """``rows``: each key binding's keys, id and what it does; ``running``: how this console
        runs (embedded, attached), in a paragraph."""
        super().__init__()
        self.text = help_markdown(rows, running)

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(self.text)
