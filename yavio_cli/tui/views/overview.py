"""Overview: the KPI cards (each with its change against the previous period and, where the
server gives a series, a sparkline), invocations over time, the platform mix, the top tools
and one sentence saying what happened."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Sparkline, Static
from textual_plotext import PlotextPlot

from yavio_cli.client import YavioClient
from yavio_cli.tui.bars import Bars
from yavio_cli.tui.chart_axes import bucket_labels, time_axis
from yavio_cli.tui.format import change, count, duration, percent, revenue
from yavio_cli.tui.views.base import View

__all__ = ["Overview"]

EMPTY = ("No events yet — run `yavio demo`, or wrap your server:\n"
         "  from yavio_sdk import with_yavio\n"
         "  server = with_yavio(server)      # the key comes from `yavio init`")

# (KPI, label, its value per bucket of `series`, how its value reads)
CARDS = (
    ("invocations", "Invocations", lambda point: point["invocations"], count),
    ("sessions", "Sessions", lambda point: point["sessions"], count),
    ("errorRate", "Error rate",
     lambda point: point["errors"] / point["invocations"] if point["invocations"] else 0.0,
     percent),
    ("p95LatencyMs", "p95 latency", lambda point: point["p95LatencyMs"] or 0.0, duration),
    ("conversions", "Conversions", lambda point: point["conversions"], count),
    ("revenue", "Revenue", lambda point: sum(point["revenue"].values()), revenue),
)
# A rising error rate or latency is bad news: their change is coloured the other way round.
LOWER_IS_BETTER = frozenset({"errorRate", "p95LatencyMs"})


class Card(Vertical):
    """One KPI: its label, value, change against the previous period and sparkline."""

    def __init__(self, name: str, label: str) -> None:
        super().__init__(id=f"card-{name}", classes="card")
        self.border_title = label

    def compose(self) -> ComposeResult:
        yield Static(classes="value")
        yield Static(classes="change")
        yield Sparkline([], classes="spark")

    def update(self, value: str, delta: str, points: list[float]) -> None:
        self.query_one(".value", Static).update(value)
        self.query_one(".change", Static).update(delta)
        self.query_one(Sparkline).data = points


class Overview(View):
    key = "1"
    title = "Overview"

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(id="summary")
            with Grid(id="cards"):
                for name, label, _, _ in CARDS:
                    yield Card(name, label)
            chart = PlotextPlot(id="calls-chart", classes="panel")
            chart.border_title = "Invocations"
            yield chart
            with Horizontal(id="overview-lower"):
                with Vertical(id="platform-mix", classes="panel") as mix:
                    mix.border_title = "Platforms"
                    yield Bars(id="platforms")
                with Vertical(id="top-tools-panel", classes="panel") as panel:
                    panel.border_title = "Top tools"
                    yield DataTable(id="top-tools", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#top-tools", DataTable)
        table.add_column("Tool", key="name")
        table.add_column("Calls", key="calls")
        table.add_column("Err %", key="errors")
        table.add_column("p95", key="p95")

    def fetch(self, client: YavioClient, project_id: str, query: dict[str, Any]) -> Any:
        return client.overview(project_id, **query)

    def show(self, data: dict[str, Any]) -> None:
        kpis, series = data["kpis"], data["series"]
        for name, _, per_bucket, reads in CARDS:
            value, previous = kpis[name]["value"], kpis[name]["previous"]
            self.query_one(f"#card-{name}", Card).update(
                reads(value), change(value, previous, lower_is_better=name in LOWER_IS_BETTER),
                [float(per_bucket(point)) for point in series])
        self.query_one("#summary", Static).update(summary(data))
        # nothing at all yet: the sentence saying how to get events is the whole view
        for part in self.query("#cards, #calls-chart, #overview-lower"):
            part.display = not is_empty(data)
        self._chart(data["range"]["bucket"], series)
        self.query_one("#platforms", Bars).show(
            [(platform["platform"], platform["invocations"], percent(platform["share"]))
             for platform in data["platforms"]])
        table = self.query_one("#top-tools", DataTable)
        table.clear()
        for tool in data["topTools"]:
            table.add_row(tool["name"], count(tool["invocations"]), percent(tool["errorRate"]),
                          duration(tool["p95LatencyMs"]), key=tool["name"])

    def _chart(self, bucket: str, series: list[dict[str, Any]]) -> None:
        chart = self.query_one("#calls-chart", PlotextPlot)
        plot = chart.plt
        plot.clear_data()
        plot.clear_figure()
        labels = bucket_labels(bucket, [point["bucket"] for point in series])
        calls = [point["invocations"] for point in series]
        plot.bar(labels, calls, marker="hd")
        plot.ylim(0, max(1, *calls))  # a range without calls keeps a floor at zero
        time_axis(chart, labels)
        chart.refresh()


def is_empty(data: dict[str, Any]) -> bool:
    """No call, session or conversion in the range nor in the one before."""
    return not any(data["kpis"][name][side] for name in ("invocations", "sessions", "conversions")
                   for side in ("value", "previous"))


def summary(data: dict[str, Any]) -> str:
    """One sentence: what happened in the range, or how to get events when nothing did."""
    kpis = data["kpis"]
    calls = kpis["invocations"]["value"]
    if is_empty(data):
        return EMPTY
    if not calls and not kpis["sessions"]["value"]:
        return "Nothing in this range; `t` shows a longer one."
    parts = [f"{count(calls)} tool calls in {count(kpis['sessions']['value'])} sessions"]
    if data["topTools"]:
        parts.append(f"{data['topTools'][0]['name']} the busiest")
    parts.append(f"{percent(kpis['errorRate']['value'])} failed")
    if kpis["conversions"]["value"]:
        parts.append(f"{count(kpis['conversions']['value'])} conversions "
                     f"({revenue(kpis['revenue']['value'])})")
    return ", ".join(parts) + "."
