"""What every drill-in screen of the dashboard (a tool, a user, a session, a trace) is: a screen
over the views that fetches one thing from the server in a worker thread (`fetch`, blocking)
and shows it (`show`), or says why it could not (`show_failure`), as the views do under the
app. It loads each time it is shown (also on the way back from a screen opened over it, as the
filters may have changed there); one that `follows_range` also reloads with the refresh timer
and takes `t` to the next range."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.binding import Binding
from textual.screen import Screen

from yavio_cli.client import ApiError, ServerUnavailable

if TYPE_CHECKING:
    from yavio_cli.client import YavioClient

__all__ = ["DetailScreen"]


class DetailScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"),
                Binding("r", "reload", "Refresh", show=False),
                Binding("t", "next_range", "Range")]
    # False for what the range does not change (a trace): no timer, no `t`.
    follows_range: ClassVar[bool] = True
    # What a 404 means here ("No tool called …"); None: the server's own words.
    not_found: str | None = None

    def fetch(self, client: YavioClient, project_id: str, query: dict[str, Any]) -> Any:
        """The screen's data (runs in a worker thread, so it may block): `query` holds the
        dashboard's range and platforms, as the client's view methods take them."""
        raise NotImplementedError

    def show(self, data: Any) -> None:
        """Put `data` (what `fetch` returned) on the screen."""
        raise NotImplementedError

    def show_failure(self, message: str) -> None:
        """Say on the screen why it has nothing (new) to show."""
        raise NotImplementedError

    def on_mount(self) -> None:
        app: Any = self.app
        if self.follows_range and app.refresh_seconds > 0:
            self.set_interval(app.refresh_seconds, self.action_reload)

    def on_screen_resume(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        app: Any = self.app
        self._load(app.filters.query(app.clock()))

    def action_next_range(self) -> None:
        app: Any = self.app
        app.action_next_range()
        self.action_reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # a screen that does not follow the range has no `t`, nor a footer entry for it
        return self.follows_range or action != "next_range"

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def _load(self, query: dict[str, Any]) -> None:
        app: Any = self.app
        try:
            found = self.fetch(app.client, app.project["id"], query)
        except ApiError as error:
            failure = (self.not_found if error.status == 404 and self.not_found
                       else f"The server answered {error.status}: {error.message}")
        except ServerUnavailable:
            failure = f"Cannot reach the server at {app.server_url}."
        else:
            self.app.call_from_thread(self.show, found)
            return
        self.app.call_from_thread(self.show_failure, failure)
