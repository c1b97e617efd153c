"""The dashboard: a header saying what is shown (project, range, platforms), a banner when the
server cannot be reached, the views (one visible at a time) and the footer with the keys.

Everything on the screen comes from the server's read API through one `YavioClient`: the
visible view reloads every `refresh` seconds in an exclusive worker thread, so a slow answer
never freezes the keys, and a newer load replaces one still running. When the server does not
answer, the banner says so and the views keep their last figures; the next load that succeeds
takes the banner away.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import Hit, Hits, Provider
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import (
    ContentSwitcher,
    Input,
    OptionList,
    SelectionList,
    Static,
)
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from yavio_cli.client import ApiError, ServerUnavailable, YavioClient
from yavio_cli.tui.filters import Filters, parse_when
from yavio_cli.tui.footer import KeysFooter
from yavio_cli.tui.views.base import View
from yavio_cli.tui.views.errors import Errors
from yavio_cli.tui.views.funnels import Funnels
from yavio_cli.tui.views.intents import Intents
from yavio_cli.tui.views.live import Live
from yavio_cli.tui.views.overview import Overview
from yavio_cli.tui.views.paths import Paths
from yavio_cli.tui.views.sessions import Sessions
from yavio_cli.tui.views.tools import Tools
from yavio_cli.tui.views.traces import Traces
from yavio_cli.tui.views.users import Users

__all__ = ["VIEWS", "YavioApp"]

VIEWS: tuple[type[View], ...] = (Overview, Tools, Traces, Sessions, Users, Funnels, Paths,
                                 Errors, Intents, Live)
KNOWN_PLATFORMS = ("chatgpt", "claude", "cursor", "vscode", "windsurf", "gemini")


class YavioApp(App[None]):
    """`client` reads the server at `server_url` as the signed-in user; `project` is `{id,
    slug}` (and `workspace` the same for its workspace); `clock` gives "now" (tests pin it)."""

    CSS_PATH = Path(__file__).with_name("yavio.tcss")
    TITLE = "Yavio"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("colon", "jump", "Jump"),
        Binding("slash", "filter", "Filter"),
        Binding("t", "next_range", "Range"),
        Binding("T", "custom_range", "Custom range", show=False),
        Binding("f", "platforms", "Platforms"),
        Binding("w", "projects", "Project"),
        Binding("r", "reload", "Refresh", show=False),
        *(Binding(view.key, f"show_view('{view.__name__.lower()}')", view.title, show=False)
          for view in VIEWS),
    ]

    def __init__(self, client: YavioClient, server_url: str, project: dict[str, Any],
                 workspace: dict[str, Any], *, filters: Filters | None = None,
                 refresh: float = 2.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 first_load: Future[Any] | None = None) -> None:
        """`first_load`: the first view's data (`fetch`) at `filters`, when the caller asked
        for it already, so that it arrived while the dashboard started."""
        super().__init__()
        self.first_load = first_load
        self.client, self.server_url = client, server_url
        self.project, self.workspace = project, workspace
        self.filters = filters or Filters()
        self.refresh_seconds, self.clock = refresh, clock
        self.failure: str | None = None
        self.prompt_for: str | None = None
        self.COMMANDS = self.COMMANDS | {DashboardCommands}

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="header"):
            yield Static(id="where")
            yield Static(id="status")
        yield Static(id="banner")
        # only the first view: each other one is built the first time it is shown, which
        # keeps the dashboard's start fast
        with ContentSwitcher(id="views", initial=VIEWS[0].__name__.lower()):
            yield VIEWS[0](id=VIEWS[0].__name__.lower())
        yield Input(id="prompt")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#banner").display = False
        self._close_prompt()
        self._describe()
        self.action_reload()
        if self.refresh_seconds > 0:
            self.set_interval(self.refresh_seconds, self.action_reload)

    @property
    def view(self) -> View:
        switcher = self.query_one("#views", ContentSwitcher)
        return switcher.query_one(f"#{switcher.current}", View)

    def _describe(self) -> None:
        platforms = ", ".join(self.filters.platforms) or "all platforms"
        self.query_one("#where", Static).update(
            f"[b]Yavio[/] · {self.workspace.get('slug', '?')}/{self.project.get('slug', '?')}"
            f" · [b]{self.view.title}[/] · {self.filters.label()} · {platforms}")

    # -- loading -----------------------------------------------------------------------------

    def action_reload(self) -> None:
        """Load the visible view again (the refresh timer, `r`, and every change of filter)."""
        view = self.view
        if view.refreshed:
            self._load(view, self.filters.query(self.clock()))

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load(self, view: View, query: dict[str, Any]) -> None:
        first, self.first_load = self.first_load, None  # the first load only: on mount
        try:
            data = (first.result() if first is not None
                    else view.fetch(self.client, self.project["id"], query))
        except ServerUnavailable:
            retry = (f"retrying every {self.refresh_seconds:g} s" if self.refresh_seconds
                     else "press r to retry")
            failure = (f"Cannot reach the server at {self.server_url}; showing the last "
                       f"figures, {retry}.")
        except ApiError as error:
            failure = f"The server answered {error.status}: {error.message}"
        else:
            if not get_current_worker().is_cancelled:
                self.call_from_thread(self._loaded, view, data)
            return
        self.call_from_thread(self.show_failure, failure)

    def _loaded(self, view: View, data: Any) -> None:
        self.clear_failure()
        view.show(data)
        if view is self.view:  # a load that lands after a switch says nothing of the new view
            self.query_one("#status", Static).update(
                f"[dim]updated {self.clock():%H:%M:%S}[/]")

    def show_failure(self, failure: str) -> None:
        """The banner, saying what went wrong: the views keep what they show."""
        self.failure = failure
        banner = self.query_one("#banner", Static)
        banner.update(f"⚠ {failure}")
        banner.display = True

    def clear_failure(self) -> None:
        self.failure = None
        self.query_one("#banner").display = False

    # -- navigation and filters --------------------------------------------------------------

    def on_base_screen(self) -> bool:
        """No screen (a trace, a tool, a picker) is open over the views."""
        return self.screen is self.screen_stack[0]

    async def action_show_view(self, name: str) -> None:
        while not self.on_base_screen():  # a view key closes what was opened over the views
            self.pop_screen()
        switcher = self.query_one("#views", ContentSwitcher)
        if not switcher.query(f"#{name}"):
            view = next(view for view in VIEWS if view.__name__.lower() == name)
            await switcher.mount(view(id=name))
        switcher.current = name
        self.view.focus_first()
        if not self.view.refreshed:  # a streaming view says itself how fresh it is
            self.query_one("#status", Static).update("")
        self._describe()
        self.action_reload()

    def action_next_range(self) -> None:
        self._set_filters(self.filters.next_preset())

    def _set_filters(self, filters: Filters) -> None:
        self.filters = filters
        self._describe()
        self.action_reload()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_jump(self) -> None:
        self._ask("jump", "Jump to a view: " + ", ".join(v.title.lower() for v in VIEWS))

    def action_filter(self) -> None:
        self._ask("filter", "Filter the rows (Enter to apply, empty to clear)")

    def action_custom_range(self) -> None:
        self._ask("range", "Range: FROM TO, e.g. 2026-03-01 2026-03-08T12:00 (UTC)")

    def _ask(self, purpose: str, placeholder: str) -> None:
        if not self.on_base_screen():  # the prompt lives under the views, out of sight here
            return
        prompt = self.query_one("#prompt", Input)
        self.prompt_for = purpose
        prompt.placeholder, prompt.value = placeholder, ""
        prompt.display, prompt.disabled = True, False
        prompt.focus()

    def _close_prompt(self) -> None:
        # hidden, it must not take the keys meant for the dashboard
        prompt = self.query_one("#prompt", Input)
        prompt.display, prompt.disabled, self.prompt_for = False, True, None
        self.view.focus_first()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        purpose, text = self.prompt_for, event.value.strip()
        self._close_prompt()
        if purpose == "jump" and text:
            match = next((view for view in VIEWS
                          if view.title.lower().startswith(text.lower())), None)
            if match is None:
                self.notify(f"No view called {text!r}.", severity="warning")
            else:
                self.call_later(self.action_show_view, match.__name__.lower())
        elif purpose == "filter":
            self.view.apply_filter(text)
        elif purpose == "range" and text:
            try:
                start, end = (parse_when(part) for part in text.split(maxsplit=1))
            except ValueError as error:
                self.notify(f"{error}; the range needs FROM and TO.", severity="error")
                return
            if start >= end:
                self.notify("FROM must be before TO.", severity="error")
                return
            self._set_filters(self.filters.custom(start, end))

    def key_escape(self) -> None:
        if self.query_one("#prompt", Input).display:
            self._close_prompt()

    def action_platforms(self) -> None:
        def chosen(platforms: tuple[str, ...] | None) -> None:
            if platforms is not None:
                self._set_filters(Filters(self.filters.preset, self.filters.start,
                                          self.filters.end, platforms))

        self.push_screen(PlatformScreen(self.filters.platforms), chosen)

    def action_projects(self) -> None:
        self._list_projects()

    @work(thread=True, exclusive=True, group="projects", exit_on_error=False)
    def _list_projects(self) -> None:
        try:
            choices = [(workspace, project) for workspace in self.client.workspaces()
                       for project in self.client.projects(workspace["id"])]
        except (ServerUnavailable, ApiError) as error:
            self.call_from_thread(self.notify, f"Cannot list the projects: {error}",
                                  severity="error")
            return
        self.call_from_thread(self._choose_project, choices)

    def _choose_project(self, choices: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        def chosen(index: int | None) -> None:
            if index is not None:
                self.workspace, self.project = choices[index]
                self._describe()
                self.action_reload()

        self.push_screen(ProjectScreen(choices), chosen)


class DashboardCommands(Provider):
    """The command palette (Ctrl+P): every view and every range preset."""

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, YavioApp)
        matcher = self.matcher(query)
        commands = [(f"View: {view.title}", lambda v=view: app.call_later(
            app.action_show_view, v.__name__.lower())) for view in VIEWS]
        commands += [("Range: next preset", app.action_next_range),
                     ("Range: custom…", app.action_custom_range),
                     ("Platforms…", app.action_platforms), ("Project…", app.action_projects)]
        for text, action in commands:
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), action)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        views = "\n".join(f"  {view.key}  {view.title}" for view in VIEWS)
        yield Static(
            "[b]Keys[/]\n"
            f"{views}\n"
            "  :  jump to a view by name      /  filter the rows\n"
            "  t  next range (24h, 7d, 30d, 90d)   T  custom range\n"
            "  f  platforms   w  project   r  refresh now\n"
            "  Enter  open the selected row   Esc  back\n"
            "  Ctrl+P  command palette   q  quit\n\n"
            "[dim]Esc or ? to close[/]", id="help")


class PlatformScreen(ModalScreen[tuple[str, ...] | None]):
    """Pick the platforms to keep (none: all); Enter applies, Esc leaves them as they were."""

    # Enter would tick the highlighted platform in the list: here it applies the choice.
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel"),
                Binding("enter", "apply", "Apply", priority=True)]

    def __init__(self, chosen: tuple[str, ...]) -> None:
        super().__init__()
        self.chosen = chosen

    def compose(self) -> ComposeResult:
        names = sorted({*KNOWN_PLATFORMS, *self.chosen})
        selection = SelectionList[str](*((name, name, name in self.chosen) for name in names),
                                       id="platform-list")
        selection.border_title = "Platforms (Space to tick, Enter to apply; none = all)"
        yield selection

    def action_apply(self) -> None:
        self.dismiss(tuple(self.query_one(SelectionList).selected))


class ProjectScreen(ModalScreen[int | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, choices: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        super().__init__()
        self.choices = choices

    def compose(self) -> ComposeResult:
        options = OptionList(*(Option(f"{workspace['slug']}/{project['slug']}  "
                                      f"[dim]{project.get('name', '')}[/]")
                               for workspace, project in self.choices), id="project-list")
        options.border_title = "Project (Enter to open)"
        yield options

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option_index)
