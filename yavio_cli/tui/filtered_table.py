"""A table of rows that the refresh timer replaces every few seconds and `/` narrows: the
highlighted row stays where the person left it across reloads and filters, so reading down a
list is never interrupted by a refresh."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

__all__ = ["Row", "FilteredTable"]

# (key, cells, the text a filter searches): keys are unique and stable across reloads.
Row = tuple[str, Sequence[str | Text], str]


class FilteredTable(DataTable):
    """Cells that are `str` are Rich markup: wrap text from the server in `Text` so brackets in
    a message are shown as they are."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.all_rows: list[Row] = []
        self.needle = ""

    def set_rows(self, rows: list[Row]) -> None:
        self.all_rows = rows
        self._fill()

    def narrow(self, text: str) -> None:
        """Keep the rows whose searched text contains `text` (any case); empty keeps all."""
        self.needle = text.strip().lower()
        self._fill()

    @property
    def highlighted_key(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def _fill(self) -> None:
        highlighted = self.highlighted_key
        self.clear()
        for key, cells, searched in self.all_rows:
            if self.needle in searched.lower():
                self.add_row(*cells, key=key)
        if highlighted is not None and highlighted in self.rows:
            self.move_cursor(row=self.get_row_index(highlighted), animate=False)
