"""The footer of every screen of the dashboard: the keys of what is shown, compact and without
the palette's key (the help, `?`, names Ctrl+P), so that a view's keys and the global ones fit
in 80 columns."""

from __future__ import annotations

from textual.widgets import Footer

__all__ = ["KeysFooter"]


class KeysFooter(Footer):
    def __init__(self) -> None:
        super().__init__(compact=True, show_command_palette=False)
