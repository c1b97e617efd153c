"""The retention matrix: one row per cohort (the users first seen in one day or week of the
range), one column per period after it, each cell the share of the cohort active in that
period, shaded darker to brighter as the share grows, so a fading cohort reads at a glance."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.color import Color
from textual.widgets import Static

__all__ = ["RetentionMatrix"]

NO_COHORT = ("No user was first seen in this range, so there is no cohort to follow; "
             "`t` shows a longer range.")
# The shades of 0 % and 100 %; a share in between blends them.
_NONE, _ALL = Color.parse("#15263a"), Color.parse("#2f7fd8")
_CELL = 6  # " 100% "


class RetentionMatrix(Static):
    """`show(retention)` with the users view's `retention` (`period`, `cohorts`)."""

    def show(self, retention: dict[str, Any]) -> None:
        self.update(matrix(retention))


def matrix(retention: dict[str, Any]) -> RenderableType:
    cohorts = retention["cohorts"]
    if not cohorts:
        return Text(NO_COHORT, style="dim")
    unit = retention["period"]
    periods = max(len(cohort["returned"]) for cohort in cohorts)
    # no padding between the cells: the shaded ones touch, as in a heat map
    table = Table(box=None, padding=0, show_edge=False, header_style="bold")
    table.add_column(f"First {unit} ", style="bold")
    table.add_column("Users ", justify="right")
    for period in range(periods):
        table.add_column(f" {unit[0]}{period} ", justify="right", width=_CELL)
    for cohort in cohorts:
        size = cohort["users"]
        cells = [shaded(returned / size if size else 0.0) for returned in cohort["returned"]]
        # the periods not over yet (after the range's end) stay blank
        cells += [Text("")] * (periods - len(cells))
        table.add_row(cohort["cohort"][5:10], f"{size} ", *cells)
    return table


def shaded(share: float) -> Text:
    """`share` as a percentage on a background as bright as the share is high."""
    background = _NONE.blend(_ALL, share)
    return Text(f"{share * 100:.0f}% ".rjust(_CELL), style=Style(
        color="white", bgcolor=background.rich_color, bold=share > 0))
