"""What every view of the dashboard is: a container that fetches its data from the server in a
worker thread (`fetch`, blocking) and shows it on the screen (`show`); the app decides when."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual.containers import Vertical

if TYPE_CHECKING:
    from yavio_cli.client import YavioClient

__all__ = ["View"]


class View(Vertical):
    """A view: `key` switches to it, `title` names it in the header and the jump list."""

    key: ClassVar[str]
    title: ClassVar[str]
    # False for a view that streams (the live tail) rather than reloads on the refresh timer.
    refreshed: ClassVar[bool] = True

    def fetch(self, client: YavioClient, project_id: str, query: dict[str, Any]) -> Any:
        """The view's data (runs in a worker thread, so it may block): `query` holds the
        range and platforms, as the client's view methods take them."""
        raise NotImplementedError

    def show(self, data: Any) -> None:
        """Put `data` (what `fetch` returned) on the screen."""
        raise NotImplementedError

    def focus_first(self) -> None:
        """Give the keys to the view's first focusable part (its scrolling container or its
        table), scrolled to its top: what a person sees when the view opens."""
        for widget in self.query("*"):
            if widget.focusable:
                widget.focus(scroll_visible=False)
                return

    def apply_filter(self, text: str) -> None:
        """Narrow what the view lists to rows matching `text` (`/`); a view with nothing to
        filter ignores it."""
