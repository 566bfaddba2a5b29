"""The console's keys, each with an id (``[ui.keymap]`` gives it other keys) and a tooltip:
its line in the help screen and its title in the command palette. The App's own actions
(quit, theme, screenshot) are bound here too, so the footer keeps one order and one keymap
covers every key."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from textual.binding import Binding


def _key(
    key: str, action: str, description: str, id: str, tooltip: str, show: bool = True
) -> Binding:
    """A binding with an id, by which ``[ui.keymap]`` gives it other keys, and a tooltip: the
    help screen's and the command palette's line for it."""
    return Binding(key, action, description, show=show, id=id, tooltip=tooltip)


CONSOLE_KEYS: list[Binding] = [
    _key("question_mark", "help", "Help", "help", "this help (Esc closes)"),
    _key("q", "app.quit", "Quit", "quit", "quit (the store is flushed first)"),
    _key("p", "pause", "Pause", "pause", "pause / resume the display; the pipeline keeps running"),
    _key(
        "u",
        "units",
        "Units",
        "units",
        "metric / imperial display (°F, mph, inHg, in); storage stays metric",
    ),
    _key(
        "U",
        "quantity_unit",
        "Unit",
        "quantity-unit",
        "the next unit of the focused variable's quantity: °C °F; m/s km/h mph kn; "
        "hPa inHg kPa mmHg; mm in (saved in [ui.units])",
        show=False,
    ),
    _key(
        "T",
        "time_zone",
        "Time",
        "time-zone",
        "times in UTC or in each station's local time (its configured zone, else the one "
        "its position lies in); saved",
        show=False,
    ),
    _key(
        "t",
        "app.next_theme",
        "Theme",
        "theme",
        "next theme: the console's three, then Textual's; saved",
    ),
    _key(
        "a",
        "acknowledge",
        "Ack",
        "acknowledge",
        "acknowledge the selected alert: the top one, or the one chosen in the alert panel",
    ),
    _key(
        "z",
        "silence",
        "Mute",
        "silence",
        "silence the selected alert (alerts.silence_min); again: lift it",
    ),
    _key(
        "Z",
        "silence_station",
        "Silence station",
        "silence-station",
        "silence every alert of the selected alert's station; again: lift it",
        show=False,
    ),
    _key(
        "slash",
        "filter",
        "Filter",
        "filter",
        "filter the anomaly log: station:lon variable:pressure detector:cusum score>0.6",
    ),
    _key(
        "x",
        "export",
        "Export",
        "export",
        "export the selected station's readings over the chart's span to CSV, in "
        "<data_dir>/exports/ (all of them: mass-tui export)",
        show=False,
    ),
    _key(
        "f",
        "find_station",
        "Find",
        "find-station",
        "find stations as you type (id or name); Enter keeps the list filtered, an empty "
        "box shows them all",
        show=False,
    ),
    _key(
        "o",
        "sort_stations",
        "Sort",
        "sort-stations",
        "sort the stations: as configured, by name, alerting first, latest anomaly first, "
        "no data first",
        show=False,
    ),
    _key(
        "g",
        "group_stations",
        "Group",
        "group-stations",
        "group the stations by state (alerting, no data, ok) under a count each",
        show=False,
    ),
    _key(
        "S",
        "statistics",
        "Stats",
        "statistics",
        "statistics of the focused variable at the selected station: count, min, mean, "
        "max, stddev and anomalies, hour by hour (h) or day by day (d)",
        show=False,
    ),
    _key("s", "app.screenshot", "Shot", "screenshot", "save a screenshot (SVG) and say where"),
    _key(
        "e",
        "edit_thresholds",
        "Tune",
        "thresholds",
        "edit the thresholds of the focused variable and the rules",
    ),
    _key(
        "plus,equals_sign",
        "threshold_step(1)",
        "+thr",
        "threshold-up",
        "raise the selected threshold of the focused variable",
        show=False,
    ),
    _key(
        "minus,underscore",
        "threshold_step(-1)",
        "-thr",
        "threshold-down",
        "lower the selected threshold of the focused variable",
        show=False,
    ),
    _key(
        "left_square_bracket",
        "span(-1)",
        "Span",
        "span-shorter",
        "shorter chart span: 24 h, 6 h, 1 h, 15 min of observed time",
        show=False,
    ),
    _key(
        "right_square_bracket",
        "span(1)",
        "Span",
        "span-longer",
        "longer chart span: 15 min, 1 h, 6 h, 24 h of observed time",
    ),
]


def keys_taken(
    bindings: Iterable[Binding], keymap: Mapping[str, str]
) -> Iterator[tuple[str, str, str]]:
    """(the id given the key, the key, the id that had it) for each key ``keymap`` gives one
    binding that another, not remapped, has by default: the remapped one gets it (Textual's
    own clash check misses this case), and the other is left without that key."""
    remapped = {key.strip(): id for id, keys in keymap.items() for key in keys.split(",")}
    for binding in bindings:
        if binding.id is None or binding.id in keymap:
            continue
        for key in binding.key.split(","):
            taker = remapped.get(key.strip())
            if taker is not None and taker != binding.id:
                yield taker, key.strip(), binding.id
