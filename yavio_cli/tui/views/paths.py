"""Paths: which tool agents call after which within a session, the most frequent transitions
first, each with a bar, its count and its share of all transitions; `(start)` and `(end)` are
a session's ends. `/` keeps the transitions from or to the tools matching a text."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from yavio_cli.client import YavioClient
from yavio_cli.tui.format import bar, count, percent
from yavio_cli.tui.views.base import View

__all__ = ["Paths"]

EMPTY = "No tool calls in this range; `t` shows a longer one."
# The server's most: a filter then narrows every transition it names.
TRANSITIONS = 100
# Cells of the table besides the bar: 5 columns, each padded by one cell on both sides, the
# arrow, a space before the count and the scroll bar's room.
_TABLE_PADDING = 5 * 2 + 1 + 1 + 2


class Paths(View):
    COMPONENT_CLASSES = {"paths--bar"}
    key = "7"
    title = "Paths"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data: dict[str, Any] | None = None
        self.filter = ""
        self._drawn: tuple[Any, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="paths-summary")
        with Vertical(id="paths-panel", classes="panel") as panel:
            panel.border_title = "Tool → tool transitions"
            yield DataTable(id="paths-table", cursor_type="row", zebra_stripes=True)

    def fetch(self, client: YavioClient, project_id: str, query: dict[str, Any]) -> Any:
        return client.paths(project_id, limit=TRANSITIONS, **query)

    def show(self, data: dict[str, Any]) -> None:
        self.data = data
        self._draw()

    def apply_filter(self, text: str) -> None:
        self.filter = text.strip()
        self._draw()

    def on_resize(self) -> None:
        # the bars take the table's width, known once the new layout is done
        self.call_after_refresh(self._draw)

    def shown(self) -> list[dict[str, Any]]:
        """The transitions listed: those from or to a tool matching the filter, if any."""
        if self.data is None:
            return []
        wanted = self.filter.lower()
        return [path for path in self.data["paths"]
                if wanted in path["from"].lower() or wanted in path["to"].lower()]

    def _draw(self) -> None:
        data = self.data
        if data is None:
            return
        paths = self.shown()
        self.query_one("#paths-summary", Static).update(self._summary(data, paths))
        self.query_one("#paths-panel").display = bool(paths)
        table = self.query_one("#paths-table", DataTable)
        drawing = (tuple((p["from"], p["to"], p["count"]) for p in paths), table.size.width)
        if drawing == self._drawn:
            return  # the same figures: keep the cursor and the scroll where they are
        self._drawn = drawing
        origin_width = max((len(path["from"]) for path in paths), default=0)
        target_width = max((len(path["to"]) for path in paths), default=0)
        figure_width = max((len(count(path["count"])) for path in paths), default=0)
        bar_width = max(4, table.size.width - _TABLE_PADDING - origin_width - target_width
                        - figure_width - len("100.0%"))
        top = max((path["count"] for path in paths), default=0) or 1
        # the colour alone: the row's background (cursor, stripes) stays under the bar
        bar_style = Style(color=self.get_component_rich_style("paths--bar").color)
        row = table.cursor_row
        table.clear(columns=True)
        for label, key in (("From", "from"), ("", "arrow"), ("To", "to"),
                           ("Transitions", "count"), ("Share", "share")):
            table.add_column(label, key=key)
        for path in paths:
            table.add_row(
                _node(path["from"]), "→", _node(path["to"]),
                Text.assemble((bar(path["count"] / top, bar_width), bar_style), " ",
                              (count(path["count"]).rjust(figure_width), "bold")),
                percent(path["share"]), key=f"{path['from']}→{path['to']}")
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1), scroll=False)

    def _summary(self, data: dict[str, Any], paths: list[dict[str, Any]]) -> str:
        if not data["transitions"]:
            return EMPTY
        listed = data["paths"]
        total = (f"{count(data['transitions'])} transitions in {count(data['sessions'])} "
                 f"sessions")
        if len(listed) == TRANSITIONS:
            total += f", the {TRANSITIONS} most frequent listed"
        if not self.filter:
            return total + "."
        if not paths:
            return f"{total}; none from or to a tool matching {escape(repr(self.filter))}."
        return (f"{total}; {len(paths)} from or to a tool matching "
                f"{escape(repr(self.filter))} ({count(sum(p['count'] for p in paths))} "
                f"transitions).")


def _node(name: str) -> str:
    """A tool's name, or a session's start or end in dim."""
    return f"[dim]{escape(name)}[/]" if name.startswith("(") else escape(name)
