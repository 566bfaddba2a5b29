"""The station list on its own, in a small app: its cursor (keys, clicks, rows that move or
go), what it posts, and that it draws only the lines on screen however many it lists."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.strip import Strip

from widgets.station_list import RENDERED_ENTRIES, GroupHeader, StationList, StationRow


def rows(count: int, alerting: int = 0, tick: int = 0) -> list[StationRow]:
    """``count`` stations, the first ``alerting`` of them with an advisory open; each
    ``tick`` changes every station's condition."""
    return [
        StationRow(
            f"s{i:04d}",
            f"Station {i}",
            f"{(i + tick) % 30}.0 °C",
            "advisory" if i < alerting else None,
            tail=(1.0, 2.0, 3.0),
        )
        for i in range(count)
    ]


class RecordingList(StationList):
    """Remembers which lines of the list (not of the screen) it was asked to draw, and how
    many rows' text it built."""

    def __init__(self) -> None:
        super().__init__()
        self.drawn: set[int] = set()
        self.built = 0

    def render_line(self, y: int) -> Strip:
        self.drawn.add(self.scroll_offset.y + y)
        return super().render_line(y)

    def _prompt(self, row: StationRow) -> Text:
        self.built += 1
        return StationList._prompt(row)


class Host(App):
    def __init__(self, listed: list[StationRow], grouped: bool = False) -> None:
        super().__init__()
        self.listed, self.grouped = listed, grouped
        self.chosen: list[str] = []

    def compose(self) -> ComposeResult:
        yield RecordingList()

    def on_mount(self) -> None:
        stations = self.query_one(StationList)
        stations.show(self.listed, grouped=self.grouped)
        stations.focus()

    def on_station_list_chosen(self, event: StationList.Chosen) -> None:
        self.chosen.append(event.station_id)


def highlighted_id(stations: StationList) -> str:
    entry = stations.entries[stations.highlighted]  # type: ignore[index]
    assert isinstance(entry, StationRow)
    return entry.station_id


async def test_the_keys_move_the_cursor_over_the_stations_never_onto_a_header():
    app = Host(rows(4, alerting=2), grouped=True)  # ALERTING, s0000, s0001, OK, s0002, s0003
    async with app.run_test(size=(40, 20)) as pilot:
        await pilot.pause()
        stations = app.query_one(StationList)
        assert [type(e) for e in stations.entries] == [GroupHeader, StationRow, StationRow] * 2
        assert highlighted_id(stations) == "s0000"  # the first station, not its header
        visited = []
        for key in ("down", "down", "down", "down", "up", "up", "home", "up", "end", "pageup"):
            await pilot.press(key)
            visited.append(highlighted_id(stations))
        assert visited[:4] == ["s0001", "s0002", "s0003", "s0003"]  # past OK's header; stays
        assert visited[4:6] == ["s0002", "s0001"]
        assert visited[6:9] == ["s0000", "s0000", "s0003"]
        assert visited[9] == "s0000"  # a page up from the end: the top (the header skipped)
        await pilot.pause()
        # Every change of station was posted, once; a key that moves nowhere posts nothing.
        before = ["s0000", *visited[:-1]]
        changes = [now for was, now in zip(before, visited, strict=True) if now != was]
        assert app.chosen == ["s0000", *changes]


async def test_page_down_moves_a_screenful_and_keeps_the_cursor_in_view():
    app = Host(rows(500))
    async with app.run_test(size=(40, 12)) as pilot:  # 10 lines inside the border: 5 rows
        await pilot.pause()
        stations = app.query_one(StationList)
        await pilot.press("pagedown")
        assert highlighted_id(stations) == "s0005"
        await pilot.press("end")
        await pilot.pause()
        assert highlighted_id(stations) == "s0499"
        assert stations.scroll_offset.y == stations.max_scroll_y  # scrolled to show it
        await pilot.press("pageup")
        assert highlighted_id(stations) == "s0494"


async def test_the_highlighted_station_stays_highlighted_when_the_rows_reorder():
    listed = rows(50)
    app = Host(listed)
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        stations = app.query_one(StationList)
        stations.select_station("s0003")
        await pilot.pause()
        stations.show(list(reversed(listed)))  # s0003 is now near the end, off screen
        await pilot.pause()
        assert highlighted_id(stations) == "s0003"
        assert stations.highlighted == 46
        top = stations.scroll_offset.y
        assert top <= 46 * 2 < top + stations.scrollable_content_region.height  # in view
        assert app.chosen == ["s0000", "s0003"]  # moving is not choosing again
        stations.show([r for r in listed if r.station_id != "s0003"])  # it is no longer listed
        await pilot.pause()
        assert highlighted_id(stations) == "s0000"
        assert app.chosen[-1] == "s0000"  # the app follows: the new highlight is chosen


async def test_clicking_a_station_chooses_it_and_clicking_a_header_does_not():
    app = Host(rows(4, alerting=2), grouped=True)
    async with app.run_test(size=(40, 20)) as pilot:
        await pilot.pause()
        stations = app.query_one(StationList)
        # Inside the border: line 0 is ALERTING's header, 1-2 s0000, 3-4 s0001, 5 OK's header,
        # 6-7 s0002 (offsets count the border line).
        await pilot.click(RecordingList, offset=(5, 1 + 7))
        assert highlighted_id(stations) == "s0002"
        await pilot.click(RecordingList, offset=(5, 1 + 5))  # OK's header
        assert highlighted_id(stations) == "s0002"
        await pilot.pause()
        assert app.chosen == ["s0000", "s0002"]


async def test_only_the_lines_on_screen_are_drawn_at_five_thousand_stations():
    app = Host(rows(5_000))
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        stations = app.query_one(RecordingList)
        height = stations.scrollable_content_region.height
        assert stations.virtual_size.height == 10_000
        on_screen = height // 2  # rows: two lines each
        assert stations.drawn and max(stations.drawn) < height
        assert stations.built <= on_screen
        stations.drawn.clear()
        await pilot.press("end")
        await pilot.pause()
        assert stations.drawn and min(stations.drawn) >= 10_000 - height
        for tick in range(1, 4):  # a refresh with every row changed redraws the screen only
            stations.drawn.clear()
            built = stations.built
            stations.show(rows(5_000, tick=tick))
            await pilot.pause()
            assert stations.drawn and min(stations.drawn) >= 10_000 - height
            assert 0 < stations.built - built <= on_screen
        assert len(stations._rendered) <= RENDERED_ENTRIES


async def test_a_row_shows_its_marker_and_condition_and_a_long_name_ends_with_an_ellipsis():
    listed = [
        StationRow("a", "A" * 60, "12.0 °C", "warning", tail=(1.0, 2.0)),
        StationRow("b", "Bee", "3.0 °C", None),
    ]
    app = Host(listed, grouped=True)
    async with app.run_test(size=(30, 10)) as pilot:
        await pilot.pause()
        stations = app.query_one(StationList)
        text = [stations.render_line(y).text.rstrip() for y in range(6)]
        assert text[0] == "ALERTING · 1"
        assert text[1].startswith("▲ AAAA") and text[1].endswith("…")
        assert len(text[1]) == stations.scrollable_content_region.width
        assert text[2] == "  12.0 °C ▁█"
        assert text[3:6] == ["OK · 1", "  Bee", "  3.0 °C"]


async def test_the_cursor_is_drawn_in_the_themes_cursor_colours():
    app = Host(rows(3))
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        stations = app.query_one(StationList)

        def background(y: int) -> object:
            return stations.render_line(y)._segments[0].style.bgcolor  # type: ignore[union-attr]

        cursor = app.theme_variables["block-cursor-background"]
        assert background(0).triplet.hex.lower() == cursor.lower()  # type: ignore[attr-defined]
        assert background(2) != background(0)  # the next station: not highlighted
        focused = background(0)
        stations.blur()
        await pilot.pause()
        assert background(0) not in (focused, background(2))  # blurred: its own colour


async def test_home_on_a_grouped_list_shows_the_first_groups_header():
    app = Host(rows(200, alerting=5), grouped=True)
    async with app.run_test(size=(40, 20)) as pilot:
        listed = app.query_one(StationList)
        await pilot.press("end")
        await pilot.pause()
        assert listed.scroll_offset.y > 0
        await pilot.press("home")
        await pilot.pause()
        assert listed.highlighted == 1  # the first station, under its group's header
        assert isinstance(listed.entries[0], GroupHeader)
        assert listed.scroll_offset.y == 0  # the header in view
