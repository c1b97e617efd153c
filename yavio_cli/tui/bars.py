"""A ranked list of labelled bars (platform mix, paths, funnel steps): each row a label, a bar
scaled to the largest value, and its figure; the bars take the width the widget has when it
is drawn, so they fit 80 columns as well as 200."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from yavio_cli.tui.format import bar

__all__ = ["Bars"]


class Bars(Widget):
    """`rows`: (label, value, figure shown at the end of the bar)."""

    COMPONENT_CLASSES = {"bars--bar"}
    DEFAULT_CSS = """
    Bars { height: auto; }
    Bars > .bars--bar { color: $accent; }
    """

    def __init__(self, *, empty: str = "—", id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[tuple[str, float, str]] = []
        self.empty = empty

    def show(self, rows: list[tuple[str, float, str]]) -> None:
        self.rows = rows
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:  # noqa: ANN001
        return max(1, len(self.rows))

    def render(self) -> Text:
        if not self.rows:
            return Text(self.empty, style="dim")
        label_width = min(24, max(len(label) for label, _, _ in self.rows))
        figure_width = max(len(figure) for _, _, figure in self.rows)
        width = max(4, self.size.width - label_width - figure_width - 2)
        top = max(value for _, value, _ in self.rows) or 1
        bar_style = self.get_component_rich_style("bars--bar")
        text = Text()
        for number, (label, value, figure) in enumerate(self.rows):
            if number:
                text.append("\n")
            text.append(label[:label_width].ljust(label_width) + " ")
            text.append(bar(value / top, width), style=bar_style)
            text.append(" " + figure.rjust(figure_width), style="bold")
        return text
