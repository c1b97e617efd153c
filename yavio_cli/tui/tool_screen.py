"""One tool in detail, opened from the Tools view (Enter): its description, calls, errors and
latency percentiles over the dashboard's range, a latency histogram, p50/p95 per bucket, its
errors by category, its input schema and its latest calls, each opening its trace (Enter).
Esc goes back; `r` and `t` reload it like the views, and it follows the refresh timer."""

from __future__ import annotations

import json
import math
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from yavio_cli.client import YavioClient
from yavio_cli.tui.bars import Bars
from yavio_cli.tui.chart_axes import time_axis
from yavio_cli.tui.detail_screen import DetailScreen
from yavio_cli.tui.footer import KeysFooter
from yavio_cli.tui.format import count, duration, percent
from yavio_cli.tui.trace_screen import TraceScreen

__all__ = ["ToolScreen"]


class ToolScreen(DetailScreen):
    # Below 32 rows the charts give up height so that a few recent calls stay in view.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.tool_name = name
        self.not_found = f"No tool called {name!r} in this project."
        self.traces: dict[str, str] = {}  # trace id of each listed call (by event id)

    def compose(self) -> ComposeResult:
        with Horizontal(id="tool-header"):
            yield Static(f"[b]Tool[/] {escape(self.tool_name)}", id="tool-name")
            yield Static(id="tool-range")
        yield Static("loading…", id="tool-figures")
        with Horizontal(id="tool-charts"):
            histogram = PlotextPlot(id="tool-histogram", classes="panel")
            histogram.border_title = "Latency histogram"
            yield histogram
            over_time = PlotextPlot(id="tool-latency", classes="panel")
            over_time.border_title = "p50 / p95 latency (ms)"
            yield over_time
        with Horizontal(id="tool-facts"):
            with Vertical(id="tool-errors-panel", classes="panel") as errors:
                errors.border_title = "Errors by category"
                yield Bars(id="tool-errors", empty="no errors in this range")
            with Vertical(id="tool-schema-panel", classes="panel") as schema:
                schema.border_title = "Input"
                yield Static(id="tool-schema")
        recent = DataTable(id="tool-recent", classes="panel", cursor_type="row",
                           zebra_stripes=True)
        recent.border_title = "Latest calls (Enter: trace)"
        yield recent
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#tool-recent", DataTable).focus()

    def fetch(self, client: YavioClient, project_id: str, query: dict[str, Any]) -> Any:
        return client.tool(project_id, self.tool_name, **query)

    def show_failure(self, message: str) -> None:
        self.query_one("#tool-figures", Static).update(f"[red]{escape(message)}[/]")

    def show(self, tool: dict[str, Any]) -> None:
        app: Any = self.app
        platforms = ", ".join(app.filters.platforms) or "all platforms"
        self.query_one("#tool-range", Static).update(
            f"[dim]{app.filters.label()} · {escape(platforms)}[/]")
        if tool["description"]:
            self.query_one("#tool-name", Static).update(
                f"[b]Tool[/] {escape(tool['name'])} [dim]· {escape(tool['description'])}[/]")
        self.query_one("#tool-figures", Static).update(figures(tool))
        # without a call there is nothing to chart: the figures line says so
        self.query_one("#tool-charts").display = bool(tool["invocations"])
        # drawn once laid out: how many labels the axes hold depends on the charts' width
        self.call_after_refresh(self._histogram, tool["latencyHistogram"])
        self.call_after_refresh(self._over_time, tool["series"])
        self.query_one("#tool-errors", Bars).show(
            [(category["category"], category["errors"],
              f"{count(category['errors'])} ({percent(category['errors'] / tool['errors'])})")
             for category in tool["errorCategories"]])
        self.query_one("#tool-schema", Static).update(schema_text(tool["inputSchema"]))
        self._recent(tool["recent"])

    def _histogram(self, buckets: list[dict[str, Any]]) -> None:
        chart = self.query_one("#tool-histogram", PlotextPlot)
        plot = chart.plt
        plot.clear_data()
        plot.clear_figure()
        plot.bar(list(range(1, len(buckets) + 1)), [bucket["count"] for bucket in buckets],
                 width=0.7)
        time_axis(chart, [edge_label(bucket) for bucket in buckets])
        _y_axis(plot, max(bucket["count"] for bucket in buckets))
        chart.refresh()

    def _over_time(self, series: list[dict[str, Any]]) -> None:
        chart = self.query_one("#tool-latency", PlotextPlot)
        plot = chart.plt
        plot.clear_data()
        plot.clear_figure()
        positions = list(range(1, len(series) + 1))
        for label, key, color in (("p50", "p50LatencyMs", "cyan"),
                                  ("p95", "p95LatencyMs", "orange")):
            # a bucket without a timed call has no percentile: the line skips it
            points = [(x, point[key]) for x, point in zip(positions, series)
                      if point[key] is not None]
            if points:
                plot.plot(*zip(*points), label=label, color=color, marker="braille")
        time_axis(chart, stamp_labels([point["bucket"] for point in series]))
        _y_axis(plot, max((point["p95LatencyMs"] or 0 for point in series), default=0))
        chart.refresh()

    def _recent(self, calls: list[dict[str, Any]]) -> None:
        table = self.query_one("#tool-recent", DataTable)
        # a reload keeps the cursor on the call it was on
        selected = (table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
                    if table.row_count else None)
        rows = [call_cells(call) for call in calls]
        table.clear(columns=True)
        for index, label in enumerate(RECENT_COLUMNS):
            # measured here rather than by the table when idle: whole cells on the first frame
            width = max([len(label), *(row[index].cell_len for row in rows)])
            table.add_column(Text(label, justify="right" if label == "Latency" else "left"),
                             width=width)
        for call, cells in zip(calls, rows):
            table.add_row(*cells, key=call["eventId"])
        self.traces = {call["eventId"]: call["traceId"] for call in calls}
        keys = list(self.traces)
        if selected in keys:
            table.move_cursor(row=keys.index(selected))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.push_screen(TraceScreen(self.traces[str(event.row_key.value)]))


RECENT_COLUMNS = ("Time (UTC)", "Status", "Latency", "Platform", "User", "Followed by")


def call_cells(call: dict[str, Any]) -> list[Text]:
    """A latest call as the cells of `RECENT_COLUMNS` (plain text: nothing from the server is
    read as markup)."""
    failed = call["status"] == "error"
    return [Text(f"{call['timestamp'][5:10]} {call['timestamp'][11:19]}"),
            Text(call["errorCategory"] or "error" if failed else "ok",
                 style="red" if failed else "green"),
            Text(duration(call["latencyMs"]), justify="right"),
            Text(call["platform"] or "—"),
            Text(call["userId"]) if call["userId"] else Text("anonymous", style="dim"),
            Text(follow_up(call["events"]))]


def figures(tool: dict[str, Any]) -> str:
    """The tool's figures on one line, or what to do when it has no call in the range."""
    if not tool["invocations"]:
        return "No calls in this range; `t` shows a longer one."
    return (f"[b]{count(tool['invocations'])}[/] calls · [b]{count(tool['errors'])}[/] errors "
            f"({percent(tool['errorRate'])}) · p50 [b]{duration(tool['p50LatencyMs'])}[/] · "
            f"p95 [b]{duration(tool['p95LatencyMs'])}[/] · "
            f"p99 [b]{duration(tool['p99LatencyMs'])}[/]")


def _y_axis(plot: Any, top: float, parts: int = 3) -> None:
    """A y axis from 0 to just above `top` with a few round ticks (steps of 1, 2 or 5 times a
    power of ten), rather than plotext's fractions of the largest value."""
    rough = max(top, 1) / parts
    power = 10 ** math.floor(math.log10(rough))
    step = next(size * power for size in (1, 2, 5, 10) if size * power >= rough)
    ticks = [step * index for index in range(parts + 2) if step * (index - 1) < max(top, 1)]
    plot.yticks(ticks, [f"{tick:g}" for tick in ticks])
    plot.ylim(0, ticks[-1])


def edge_label(bucket: dict[str, Any]) -> str:
    """A histogram bucket by its lower edge: `250` (ms), `1s`, `2.5s+` for the open-ended
    last."""
    low = bucket["fromMs"]
    label = f"{low / 1000:g}s" if low >= 1000 else f"{low:g}"
    return label if bucket["toMs"] is not None else f"{label}+"


def stamp_labels(buckets: list[str]) -> list[str]:
    """Short labels of a series' buckets (ISO times), as `chart_axes.bucket_labels` gives
    them, read off the times themselves: the tool's answer does not name its bucket size."""
    if any(bucket[11:16] != "00:00" for bucket in buckets):
        return [bucket[11:16] for bucket in buckets]
    months = {bucket[:7] for bucket in buckets}
    if len(buckets) > 1 and len(months) == len(buckets):
        return [bucket[:7] for bucket in buckets]
    return [bucket[5:10] for bucket in buckets]


def follow_up(events: list[dict[str, Any]]) -> str:
    """What the call's trace recorded after it (steps, tracked events, conversions), in
    order: `rooms_found → booking_completed 320.00 EUR`."""
    names = []
    for event in events:
        name = event["name"] or event["type"]
        if event["conversionValue"] is not None:
            name += f" {event['conversionValue']:.2f} {event['conversionCurrency'] or ''}"
        names.append(name.strip())
    return " → ".join(names) or "—"


def schema_text(schema: dict[str, Any] | None) -> str:
    """The input schema's properties, one a line (name, type, required, description), or
    the schema as JSON when it has no properties."""
    if not schema:
        return "[dim]no input schema registered[/]"
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        return escape(json.dumps(schema, ensure_ascii=False))
    required = set(schema.get("required") or ())
    lines = []
    for name, spec in properties.items():
        spec = spec if isinstance(spec, dict) else {}
        line = f"[b]{escape(name)}[/] [cyan]{escape(str(spec.get('type', 'any')))}[/]"
        if name in required:
            line += " [dim]required[/]"
        if spec.get("description"):
            line += f" · {escape(str(spec['description']))}"
        lines.append(line)
    return "\n".join(lines)
