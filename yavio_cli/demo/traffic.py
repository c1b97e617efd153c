"""The demo's traffic: real MCP client sessions against the hotel-booking example.

Lanes of sessions run side by side; each lane has its own instrumented example server (built by
`examples/hotel_booking.py`'s `build_server`, loaded by path) whose SDK sends through the
`HistoryRelay` with the lane's clock. A session is one person in one client: a search (signed-in
people search with their account's email, which identifies them), maybe a closer look, maybe a
booking (confirmed or declined), widget events from the rooms and booking widgets, sometimes a
cancellation; with errors of every category along the way (the example's partner API fails on
its sandbox rooms) and retries after them.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import random
import sys
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mcp import Client as McpClient
from mcp import types
from mcp.shared.exceptions import MCPDeprecationWarning

from yavio_cli.demo.population import (
    Client,
    Person,
    Population,
    session_start,
    stay,
    utc_now,
)
from yavio_cli.demo.relay import HistoryRelay, LaneClock, format_ms

__all__ = ["EXAMPLE", "Traffic", "TrafficStats", "load_example"]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hotel_booking.py"
SESSIONS_PER_SERVER = 2_000
# Every 12th closer look at a room meets a failing partner API (8%, as with real partner APIs),
# with these error categories in turn (the example's SANDBOX_FAILURES name a room for each):
# timeouts most, expired credentials least. A cadence and a rotation, not draws, so that even a
# short demo (a hundred closer looks) shows every category.
PARTNER_FAILURE_EVERY = 12
PARTNER_FAILURES = ("timeout", "rate_limit", "auth", "server", "timeout", "rate_limit",
                    "server", "timeout")


def load_example(path: Path = EXAMPLE) -> Any:
    """The example module, loaded by path (it is not a package)."""
    spec = importlib.util.spec_from_file_location("yavio_demo_hotel_booking", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@dataclass
class TrafficStats:
    sessions: int = 0
    tool_calls: int = 0
    bookings: int = 0
    revenue_eur: float = 0.0
    widget_events: int = 0
    people: set[int] = field(default_factory=set)
    identified: set[int] = field(default_factory=set)

    def add(self, other: dict[str, Any]) -> None:
        """Add another process's figures (`asdict` of its stats, sets as lists)."""
        for name in ("sessions", "tool_calls", "bookings", "revenue_eur", "widget_events"):
            setattr(self, name, getattr(self, name) + other[name])
        self.people.update(other["people"])
        self.identified.update(other["identified"])


class _Answers:
    """The person behind the client: a model's pitch (sampling) and a yes or no (elicitation)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.decline = False

    async def sampling(self, context: Any, params: types.CreateMessageRequestParams
                       ) -> types.CreateMessageResult:
        return types.CreateMessageResult(
            role="assistant", model="demo-llm",
            content=types.TextContent(type="text", text="A calm room, close to everything."))

    async def elicitation(self, context: Any, params: types.ElicitRequestParams
                          ) -> types.ElicitResult:
        if self.decline:
            return types.ElicitResult(action=self.rng.choice(("decline", "cancel")))
        return types.ElicitResult(action="accept", content={"confirm": True})


class Traffic:
    """Sessions over simulated time, `lanes` at a time, until `should_stop()`."""

    def __init__(self, relay: HistoryRelay, api_key: str, endpoint: str, *, seed: int,
                 people: int, lanes: int = 4) -> None:
        self.relay = relay
        self.rng = random.Random(seed)
        self.population = Population(self.rng, people)
        self.stats = TrafficStats()
        self.key = api_key
        self.endpoint = endpoint
        example = load_example()
        # The server logs every failed call with a rendered traceback, and the demo fails
        # calls on purpose, thousands of times: that would bury the progress bar.
        for name in ("hotel_booking", "mcp", "httpx", "yavio"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        # Sampling is deprecated by the 2026-07-28 protocol; the example still asks for it.
        warnings.filterwarnings("ignore", category=MCPDeprecationWarning)
        self._example = example
        self._sandbox_room = {category: room for room, category in
                              example.SANDBOX_FAILURES.items()}
        self._closer_looks = 0
        self.lanes = [self._server(LaneClock()) for _ in range(lanes)]

    def _server(self, clock: LaneClock) -> tuple[LaneClock, Any]:
        """A fresh example server (its own bookings) whose SDK sends with `clock`."""
        return clock, self._example.build_server(
            api_key=self.key, endpoint=self.endpoint, transport=self.relay.transport(clock),
            flush_interval=1.0, batch_size=1000, queue_size=100_000)

    async def run(self, start: datetime | None, end: datetime | None,
                  should_stop: Callable[[], bool], *, backlog_limit: int = 20_000,
                  pause: tuple[float, float] = (0.0, 0.0)) -> None:
        """Drive sessions until `should_stop()`: at moments drawn between `start` and `end`
        (history), or, when they are None, now (live), `pause` seconds apart per lane."""

        async def lane(index: int) -> None:
            sessions = 0
            while not should_stop():
                while self.relay.backlog > backlog_limit and not should_stop():
                    await asyncio.sleep(0.05)
                clock, server = self.lanes[index]
                if sessions == SESSIONS_PER_SERVER:
                    # A restart (a deploy): the example keeps its bookings in memory and
                    # checks a room against all of them, so a server must not live for ever.
                    sessions = 0
                    server._yavio_recorder.sender.close(timeout=10)
                    self.lanes[index] = clock, server = self._server(clock)
                live = start is None or end is None
                when = utc_now() if live else session_start(self.rng, start, end)
                await self.session(server, clock, when, live=live)
                sessions += 1
                if pause[1]:
                    await asyncio.sleep(self.rng.uniform(*pause))

        await asyncio.gather(*(lane(index) for index in range(len(self.lanes))))

    def flush(self, timeout: float = 30.0) -> None:
        """Hand everything the lanes' SDKs hold to the relay."""
        for _, server in self.lanes:
            server._yavio_recorder.sender.flush(timeout)

    # -- one session ------------------------------------------------------------------------

    async def session(self, server: Any, clock: LaneClock, when: datetime, *,
                      live: bool) -> None:
        rng = self.rng
        person = self.population.pick()
        client = self.population.client_for(person)
        answers = _Answers(rng)
        stats = self.stats
        stats.sessions += 1
        stats.people.add(person.id)
        now = [when]

        async def at(seconds: float) -> None:
            # The person (or the agent) takes `seconds` before the next request.
            now[0] += timedelta(seconds=seconds)
            await clock.set(_ms(utc_now() if live else now[0]))

        async def call(tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
            stats.tool_calls += 1
            meta = _chatgpt_meta(client, person) if client.platform == "chatgpt" else None
            return await mcp.call_tool(tool, arguments, meta=meta)

        await at(0)
        async with McpClient(
                server, mode="legacy",
                client_info=types.Implementation(name=client.name, version=client.version),
                sampling_callback=answers.sampling if client.sampling else None,
                elicitation_callback=answers.elicitation if client.elicitation else None,
        ) as mcp:
            await at(rng.uniform(0.2, 2))
            await mcp.list_tools()
            if rng.random() < 0.1:
                await at(rng.uniform(1, 5))
                await mcp.read_resource("hotel://policies")
            if rng.random() < 0.08:
                await at(rng.uniform(1, 5))
                await mcp.get_prompt("plan_stay", {"city": "Paris", "nights": "3"})
            wish = stay(rng, now[0])
            search = {**wish, "guest_email": person.email} if person.signed_in else wish
            await at(rng.uniform(3, 40))
            if rng.random() < 0.03:  # the agent forgets an argument: a validation error
                await call("search_rooms", {"city": wish["city"]})
                await at(rng.uniform(1, 4))
            found = await call("search_rooms", search)
            if person.signed_in:
                stats.identified.add(person.id)
            if rng.random() < 0.06:  # the same search again: a retry
                await at(rng.uniform(2, 8))
                found = await call("search_rooms", search)
            if rng.random() < 0.3:  # the same city on other dates
                wish = {**stay(rng, now[0]), "city": wish["city"]}
                await at(rng.uniform(10, 60))
                found = await call("search_rooms", {**search, **wish})
            rooms = (found.structured_content or {}).get("rooms") or []
            widget = (found.meta or {}).get("yavio")
            if rooms and isinstance(widget, dict):
                self._widget_events(widget, now[0], client, live)
            if not rooms or rng.random() < 0.3:
                return  # nothing found, or only looking
            dates = {"check_in": wish["check_in"], "check_out": wish["check_out"]}
            # The agent compares one to three of the best rooms, usually with a closer look.
            compared = rng.sample(rooms[:3], min(len(rooms[:3]), rng.choices((1, 2, 3),
                                                                            (45, 35, 20))[0]))
            for index, room in enumerate(compared if rng.random() < 0.8 else ()):
                await at(rng.uniform(10, 120))
                if index == 0 and rng.random() < 0.05:  # a made-up room id, then a retry
                    await call("check_availability", {"room_id": room["id"] + "x", **dates})
                    await at(rng.uniform(1, 5))
                failure = self._partner_failure()
                if failure is not None:
                    await call("check_availability", {"room_id": failure, **dates})
                    if failure == self._sandbox_room["auth"]:
                        return  # the hotel's credentials expired: no retry helps
                    await at(rng.uniform(2, 30))  # the agent tries again
                await call("check_availability", {"room_id": room["id"], **dates})
            room = rng.choice(compared)
            if rng.random() < (0.25 if person.signed_in else 0.8):
                return  # leaves before booking (most anonymous visitors only look)
            answers.decline = rng.random() < 0.15
            await at(rng.uniform(15, 180))
            guest = {"guest_name": person.name, "guest_email": person.email}
            booked = await call("book_room", {"room_id": room["id"], **guest, **dates})
            result = booked.structured_content or {}
            if booked.is_error or result.get("status") != "confirmed":
                return
            stats.bookings += 1
            stats.identified.add(person.id)
            stats.revenue_eur += float(result.get("total_price") or 0)
            widget = (booked.meta or {}).get("yavio")
            if isinstance(widget, dict):
                self._widget_events(widget, now[0], client, live, result)
            if rng.random() < 0.04:  # a second click on "book": the room is not free any more
                await at(rng.uniform(2, 10))
                await call("book_room", {"room_id": room["id"], **guest, **dates})
            if rng.random() < 0.08:
                await at(rng.uniform(60, 600))
                booking = result["booking_id"]
                await call("cancel_booking", {"booking_id": booking})
                if rng.random() < 0.3:  # cancelled twice: an error result
                    await at(rng.uniform(1, 5))
                    await call("cancel_booking", {"booking_id": booking})
            if rng.random() < 0.03:
                await at(rng.uniform(5, 30))
                await call("cancel_booking", {"booking_id": "bk_" + uuid.uuid4().hex[:6]})
            await at(rng.uniform(1, 10))

    def _partner_failure(self) -> str | None:
        """The sandbox room of the partner API failure a closer look meets, if any."""
        self._closer_looks += 1
        if self._closer_looks % PARTNER_FAILURE_EVERY:
            return None
        failure = self._closer_looks // PARTNER_FAILURE_EVERY - 1
        return self._sandbox_room[PARTNER_FAILURES[failure % len(PARTNER_FAILURES)]]

    def _widget_events(self, config: dict[str, Any], when: datetime, client: Client,
                       live: bool, booking: dict[str, Any] | None = None) -> None:
        """What the booking widget (or, without a `booking`, the rooms widget of a search)
        sends, posted with the token the server minted for it."""
        rng = self.rng
        start = _ms(utc_now() if live else when) + rng.randint(300, 1500)
        base = {"trace_id": config["traceId"], "session_id": config["sessionId"],
                "source": "widget", "platform": client.platform}
        mobile = rng.random() < 0.35
        events: list[dict[str, Any]] = []

        def add(offset_ms: int, event_type: str, **fields: Any) -> None:
            events.append({**base, "event_id": str(uuid.uuid4()), "event_type": event_type,
                           "timestamp": format_ms(start + offset_ms), **fields})

        add(0, "widget_render", viewport_width=390 if mobile else 1280,
            viewport_height=844 if mobile else 800, device_pixel_ratio=3.0 if mobile else 2.0,
            device_touch=int(mobile), connection_type="4g" if mobile else "wifi")
        add(40, "widget_performance", load_time_ms=rng.randint(80, 900))
        add(500, "widget_visibility", visible_duration_ms=rng.randint(2_000, 60_000))
        add(700, "widget_focus")
        # As the tracker sends them: a scroll event per new depth reached, a click per click.
        for index, depth in enumerate((25, 50, 75, 100)[:rng.choice((0, 1, 2, 2, 3, 4))]):
            add(2_000 + 1_500 * index, "widget_scroll", scroll_depth_pct=depth)
        if booking is None:  # the rooms carousel: a look at a room card or two
            for index in range(rng.choice((0, 1, 1, 2, 3))):
                add(4_000 + 2_000 * index, "widget_click", click_count=1,
                    event_name=rng.choice(("view_room", "view_photos", "view_map")))
        else:  # the booking widget
            for index in range(rng.choice((0, 1, 1, 2, 3, 4))):
                add(6_000 + 900 * index, "widget_click", click_count=1, event_name=rng.choice(
                    ("view_details", "view_photos", "view_map", "copy_booking_id")))
            if rng.random() < 0.4:  # the room's details tab, and back
                add(7_000, "widget_navigation", nav_from="/booking", nav_to="/booking/room")
                add(11_000, "widget_navigation", nav_from="/booking/room", nav_to="/booking")
            if rng.random() < 0.2:
                add(9_000, "widget_link_click", metadata={"domain": "maps.example.com"})
            step = config.get("stepSequence")
            if isinstance(step, int) and rng.random() < 0.5:
                add(8_000, "step", event_name="receipt_viewed", step_sequence=step)
            if rng.random() < 0.15:
                add(12_000, "widget_form_field", field_name="breakfast")
                add(15_000, "widget_form_submit", event_name="add_breakfast")
                nights = max(1, int(booking.get("total_price", 0) // 100))
                add(15_100, "conversion", event_name="breakfast_added",
                    conversion_value=float(18 * nights), conversion_currency="EUR")
                self.stats.revenue_eur += 18 * nights
            if rng.random() < 0.02:
                add(20_000, "widget_rage_click", click_count=rng.randint(3, 6))
        self.stats.widget_events += len(events)
        self.relay.enqueue(f"Bearer {config['token']}", events)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _chatgpt_meta(client: Client, person: Person) -> dict[str, Any]:
    """What ChatGPT sends in every tools/call's `_meta`: the end user's locale, place, browser
    and an anonymous subject id."""
    return {"openai/locale": person.locale,
            "openai/userLocation": {"country": person.country},
            "openai/userAgent": client.user_agent,
            "openai/subject": f"v1/demo{person.id:08d}"}
