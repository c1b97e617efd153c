"""Choosing a step to add to a funnel (`a` in the Funnels view): the range's known steps, most
frequent first, narrowed as the person types; Enter takes the highlighted one, or what was
typed when it is a step of its own (`widget_click`, `track:filters_applied`). Esc cancels."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from yavio_cli.tui.format import count
from yavio_cli.tui.funnel_steps import KnownStep, is_step

__all__ = ["StepPicker"]


class StepPicker(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel"),
                Binding("down", "move(1)", "Next", show=False),
                Binding("up", "move(-1)", "Previous", show=False)]

    def __init__(self, known: list[KnownStep], title: str) -> None:
        super().__init__()
        self.known, self.title_text = known, title

    def compose(self) -> ComposeResult:
        with Vertical(id="step-picker") as box:
            box.border_title = self.title_text
            yield Input(placeholder="type to narrow, or a step like widget_click",
                        id="step-query")
            yield OptionList(id="step-options")

    def on_mount(self) -> None:
        self._narrow("")

    def on_input_changed(self, event: Input.Changed) -> None:
        self._narrow(event.value.strip())

    def _narrow(self, text: str) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        width = max((len(step.spec) for step in self.known), default=0)
        options.add_options(
            Option(f"{escape(step.spec.ljust(width))}  [dim]{count(step.events)} events[/]",
                   id=step.spec)
            for step in self.known if text.lower() in step.spec.lower())
        if options.option_count:
            options.highlighted = 0

    def action_move(self, by: int) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            options.highlighted = ((options.highlighted or 0) + by) % options.option_count

    def on_input_submitted(self, event: Input.Submitted) -> None:
        options, typed = self.query_one(OptionList), event.value.strip()
        if options.highlighted is not None:
            self.dismiss(options.get_option_at_index(options.highlighted).id)
        elif is_step(typed):
            self.dismiss(typed)
        else:
            self.notify(f"{typed!r} is not a step: an event type, or type:name.",
                        severity="warning")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
