"""Funnels: how many sessions (or traces) went through an ordered list of steps, with a bar of
the entries per step, the conversion from the previous step and from the first, the drop-off,
and optionally the entries per platform. The person builds the funnel with keys from the
steps that happened in the range (`funnel_steps.py`), and Enter on a step lists the traces
that dropped out before it (`DroppedScreen`).

It opens by session: a funnel across tools (search → book) spans several traces, since each
tool call is a trace of its own, so by trace it would end at the first tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from yavio_cli.client import YavioClient
from yavio_cli.tui.dropped_screen import DroppedScreen
from yavio_cli.tui.format import bar, count, percent
from yavio_cli.tui.funnel_steps import (
    MAX_STEPS,
    MIN_STEPS,
    KnownStep,
    default_steps,
    known_steps,
)
from yavio_cli.tui.step_picker import StepPicker
from yavio_cli.tui.views.base import View

__all__ = ["Funnels"]

EMPTY = "No events in this range to build a funnel from; `t` shows a longer one."
# The view's keys, here rather than in the footer, which has no room for them at 80 columns.
HINT = ("[b]a[/] add  [b]x[/] remove  [b]K[/]/[b]J[/] move  [b]s[/] by trace/session  "
        "[b]p[/] per platform  [b]W[/] window")
# (seconds, label): what `W` cycles through, the server's default first.
WINDOWS = ((3600, "1 h"), (86_400, "1 day"), (7 * 86_400, "7 days"))
# Cells of the steps table besides the bar: 6 columns, each padded by one cell on both sides,
# and the scroll bar's room.
_TABLE_PADDING = 6 * 2 + 2


@dataclass(frozen=True)
class KnownSteps:
    """The known steps of a `scope` (project, range to the minute, platforms): they are read
    again when it changes, so at most once a minute while a preset's range moves with the
    clock, though the funnel reloads on every refresh."""

    scope: tuple[Any, ...]
    steps: list[KnownStep]


@dataclass(frozen=True)
class FunnelData:
    """What one load brings: the project's known steps, the steps asked for and the server's
    funnel (None without a funnel to ask for)."""

    project_id: str
    known: KnownSteps
    steps: tuple[str, ...]
    funnel: dict[str, Any] | None


class Funnels(View):
    COMPONENT_CLASSES = {"funnels--bar"}
    key = "6"
    title = "Funnels"
    BINDINGS = [
        Binding("a", "add_step", "Add step", show=False),
        Binding("x,delete", "remove_step", "Remove step", show=False),
        Binding("K,shift+up", "move_step(-1)", "Move step up", show=False),
        Binding("J,shift+down", "move_step(1)", "Move step down", show=False),
        Binding("s", "toggle_by", "By trace/session", show=False),
        Binding("p", "toggle_split", "Per platform", show=False),
        Binding("W", "next_window", "Window", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # The person's funnel and its project; () until the default is known.
        self.steps: tuple[str, ...] = ()
        self.steps_project: str | None = None
        self.by, self.window, self.split = "session", WINDOWS[0], True
        self.known: KnownSteps | None = None
        self.data: FunnelData | None = None
        self._drawn: tuple[Any, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="funnel-summary")
        yield Static(HINT, id="funnel-keys")
        with Vertical(id="funnel-steps-panel", classes="panel") as panel:
            panel.border_title = "Steps"
            yield DataTable(id="funnel-steps", cursor_type="row", zebra_stripes=True)
        with Vertical(id="funnel-platforms-panel", classes="panel") as panel:
            panel.border_title = "Entries per platform"
            yield DataTable(id="funnel-platforms", cursor_type="none", zebra_stripes=True)

    # -- loading -----------------------------------------------------------------------------

    def fetch(self, client: YavioClient, project_id: str, query: dict[str, Any]) -> FunnelData:
        known = self._known(client, project_id, query)
        steps = self.steps if self.steps and self.steps_project == project_id else \
            default_steps(known.steps)
        funnel = None
        if len(steps) >= MIN_STEPS:
            funnel = client.funnel(project_id, steps, by=self.by, window=self.window[0],
                                   split="platform" if self.split else None, **query)
        return FunnelData(project_id, known, steps, funnel)

    def _known(self, client: YavioClient, project_id: str, query: dict[str, Any]) -> KnownSteps:
        scope = (project_id, query["start"][:16], query["end"][:16],
                 tuple(query.get("platforms") or ()))
        if self.known is not None and self.known.scope == scope:
            return self.known
        return KnownSteps(scope, known_steps(client, project_id, query))

    def show(self, data: FunnelData) -> None:
        self.known = data.known
        if not self.steps or self.steps_project != data.project_id:
            self.steps, self.steps_project = data.steps, data.project_id
        elif data.steps != self.steps:
            return  # the person changed the steps meanwhile: a newer load is on its way
        self.data = data
        self._draw()

    def _reload(self) -> None:
        self._draw()
        self.app.action_reload()

    # -- drawing -----------------------------------------------------------------------------

    def on_resize(self) -> None:
        # the bars take the table's width, known once the new layout is done
        self.call_after_refresh(self._draw)

    def _draw(self) -> None:
        data = self.data
        if data is None:
            return
        steps, funnel = self.steps, data.funnel
        pending = funnel is None or [step["spec"] for step in funnel["steps"]] != list(steps)
        self.query_one("#funnel-summary", Static).update(
            _summary(data, steps, None if pending else funnel))
        has_funnel = bool(steps)
        self.query_one("#funnel-keys").display = has_funnel or bool(data.known.steps)
        self.query_one("#funnel-steps-panel").display = has_funnel
        split = not pending and funnel is not None and "byPlatform" in funnel
        self.query_one("#funnel-platforms-panel").display = split
        table = self.query_one("#funnel-steps", DataTable)
        drawing = (steps, None if pending else funnel, table.size.width)
        if drawing == self._drawn:
            return  # the same figures: keep the cursor and the scroll where they are
        self._drawn = drawing
        self._fill_steps(table, steps, None if pending else funnel)
        if split:
            assert funnel is not None
            self._fill_platforms(len(steps), funnel["byPlatform"])

    def _fill_steps(self, table: DataTable, steps: tuple[str, ...],
                    funnel: dict[str, Any] | None) -> None:
        answers = funnel["steps"] if funnel else [None] * len(steps)
        entered = [count(answer["entered"]) if answer else "…" for answer in answers]
        label_width = max(len(spec) for spec in steps) if steps else 0
        figure_width = max((len(figure) for figure in entered), default=1)
        bar_width = max(4, table.size.width - _TABLE_PADDING - len(str(len(steps)))
                        - label_width - figure_width - 1 - len("100.0%") - len("Overall")
                        - len("Dropped"))
        top = max((answer["entered"] for answer in answers if answer), default=0) or 1
        # the colour alone: the row's background (cursor, stripes) stays under the bar
        bar_style = Style(color=self.get_component_rich_style("funnels--bar").color)
        row = table.cursor_row
        table.clear(columns=True)
        for label, key in (("#", "number"), ("Step", "step"), ("Entered", "entered"),
                           ("Conv.", "conversion"), ("Overall", "overall"),
                           ("Dropped", "dropped")):
            table.add_column(label, key=key)
        for number, (spec, answer, figure) in enumerate(zip(steps, answers, entered), 1):
            share = answer["entered"] / top if answer else 0.0
            table.add_row(
                str(number), escape(spec),
                Text.assemble((bar(share, bar_width), bar_style), " ",
                              (figure.rjust(figure_width), "bold")),
                percent(answer["conversionFromPrevious"]) if answer else "",
                percent(answer["conversionFromStart"]) if answer else "",
                count(answer["droppedHere"]) if answer and number > 1 else "",
                key=spec)
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1), scroll=False)

    def _fill_platforms(self, steps: int, platforms: list[dict[str, Any]]) -> None:
        table = self.query_one("#funnel-platforms", DataTable)
        table.clear(columns=True)
        table.add_column("Platform", key="platform")
        for number in range(1, steps + 1):
            table.add_column(str(number), key=str(number))
        table.add_column("Overall", key="overall")
        for platform in platforms:
            entries = platform["steps"]
            overall = entries[-1] / entries[0] if entries[0] else 0.0
            table.add_row(platform["platform"], *(count(entry) for entry in entries),
                          percent(overall), key=platform["platform"])

    # -- building the funnel -----------------------------------------------------------------

    def _selected(self) -> int:
        return self.query_one("#funnel-steps", DataTable).cursor_row

    def _set_steps(self, steps: tuple[str, ...], select: int) -> None:
        self.steps = steps
        self._reload()
        self.query_one("#funnel-steps", DataTable).move_cursor(row=select)

    def action_add_step(self) -> None:
        if self.known is None:
            return
        steps = self.steps
        if len(steps) >= MAX_STEPS:
            self.notify(f"A funnel has at most {MAX_STEPS} steps: remove one first (x).",
                        severity="warning")
            return
        after = min(self._selected() + 1, len(steps))

        def chosen(spec: str | None) -> None:
            if spec:
                self._set_steps(steps[:after] + (spec,) + steps[after:], after)

        title = f"Add step {after + 1}" if steps else "Add the first step"
        self.app.push_screen(StepPicker(self.known.steps, title), chosen)

    def action_remove_step(self) -> None:
        steps = self.steps
        if len(steps) <= MIN_STEPS:
            self.notify(f"A funnel has at least {MIN_STEPS} steps: add one first (a).",
                        severity="warning")
            return
        index = self._selected()
        self._set_steps(steps[:index] + steps[index + 1:], min(index, len(steps) - 2))

    def action_move_step(self, by: int) -> None:
        steps, index = list(self.steps), self._selected()
        if not 0 <= index + by < len(steps):
            return
        steps[index], steps[index + by] = steps[index + by], steps[index]
        self._set_steps(tuple(steps), index + by)

    def action_toggle_by(self) -> None:
        self.by = "trace" if self.by == "session" else "session"
        self._reload()

    def action_toggle_split(self) -> None:
        self.split = not self.split
        self._reload()

    def action_next_window(self) -> None:
        self.window = WINDOWS[(WINDOWS.index(self.window) + 1) % len(WINDOWS)]
        self._reload()

    # -- drilling in -------------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        funnel = self.data.funnel if self.data else None
        if event.data_table.id != "funnel-steps" or funnel is None:
            return
        number = event.cursor_row + 1
        if number > len(funnel["steps"]):
            return
        step = funnel["steps"][number - 1]
        if number == 1:
            self.notify("Step 1 is where the funnel starts: nothing drops before it.")
        elif not step["droppedSamples"]:
            self.notify(f"Nothing dropped before step {number}.")
        else:
            app: Any = self.app
            app.push_screen(DroppedScreen(number, step, funnel["by"],
                                          app.filters.query(app.clock())))


def _summary(data: FunnelData, steps: tuple[str, ...], funnel: dict[str, Any] | None) -> str:
    """One sentence: how the funnel is counted and how many went all the way."""
    if not steps and not data.known.steps:
        return EMPTY
    if len(steps) < MIN_STEPS:
        return f"A funnel needs {MIN_STEPS} steps or more: press a to add one."
    if funnel is None:
        return "Counting…"
    answers, unit = funnel["steps"], funnel["by"]
    window = next((label for seconds, label in WINDOWS if seconds == funnel["window"]),
                  f"{funnel['window']} s")
    how = f"By {unit}, within {window}"
    first = answers[0]["entered"]
    if not first:
        return f"{how}: no {unit} reached step 1 in this range."
    worst = max(answers[1:], key=lambda answer: answer["droppedHere"])
    return (f"{how}: {count(first)} {unit}s entered, {count(answers[-1]['entered'])} "
            f"({percent(funnel['overallConversion'])}) completed all {len(answers)} steps; "
            f"most dropped before step {answers.index(worst) + 1} "
            f"({count(worst['droppedHere'])}).")
