"""The help screen: every key, the same list the README gives."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# M.A.S.S. console — keys

| key | what it does |
|---|---|
| `?` | this help (Esc closes) |
| `q` | quit (the store is flushed first) |
| `p` | pause / resume the display; the pipeline keeps running |
| `u` | metric / imperial display (°F, mph, inHg, in); storage stays metric |
| `t` | next theme: dark, light, high contrast |
| `a` | acknowledge the selected alert: the top one, or the one chosen in the alert panel |
| `z` / `Z` | silence the selected alert / its station (`alerts.silence_min`); again: lift it |
| `/` | filter the anomaly log: `station:lon variable:pressure detector:cusum score>0.6` |
| `s` | save a screenshot (SVG) and say where |
| `e` | threshold editor for the focused variable and the rules |
| `+` / `-` | raise / lower the selected threshold of the focused variable |
| `[` / `]` | chart span: 15 min, 1 h, 6 h, 24 h of observed time |
| `Tab` / `Shift+Tab` | move focus: stations, variable panels, anomaly log, alerts |
| `↑` `↓` `←` `→` | move within the focused list or between variable panels |

A variable panel's border turns red while it has a recent anomaly. The chart shows the
focused variable with its EWMA line and control band, the threshold lines of its rules and a
mark at each anomaly. Threshold changes apply at once and are saved to your user config file.
The mouse works too: click a station, a panel or a row.
"""


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

    def __init__(self, running: str = "") -> None:
        """``running``: how this console runs (embedded, attached), in a paragraph."""
        super().__init__()
        self.running = running

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(
                HELP + (f"\n## This console\n\n{self.running}\n" if self.running else "")
            )
