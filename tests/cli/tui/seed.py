"""A fixed week of a hotel-booking MCP server's traffic, for the dashboard's tests: every figure
is the same on every run (times, ids, users, latencies come from a seeded generator), so
pilots can assert numbers and snapshots can compare pixels.

`NOW` ends the week; the week before holds less traffic, for the changes against the
previous period. The week is in the future: a past one would fall out of the events' 90-day
retention (TTL) as soon as the calendar passed it.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from yavio_sdk.events import validate_obj

NOW = datetime(2030, 3, 8, 0, 0, tzinfo=timezone.utc)
WEEK = timedelta(days=7)
PLATFORMS = ("chatgpt", "claude", "cursor", "vscode")
TOOLS = {  # name: (description, typical latency in ms)
    "search_rooms": ("Search free rooms in a city", 120.0),
    "check_availability": ("Check one room's dates", 60.0),
    "book_room": ("Book a room", 300.0),
    "cancel_booking": ("Cancel a booking", 80.0),  # registered, never called
}
INTENTS = ("a quiet room near the station", "cheapest double for two nights",
           "family room with breakfast", "a hotel with parking")


def _at(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def week_of_traffic(sessions: int = 40, start: datetime = NOW - WEEK,
                    seed: int = 7) -> list[Any]:
    """`sessions` sessions spread over the week from `start`: each searches, most check a
    room, some book (a conversion follows a successful booking); a few calls fail; 60 % of
    the sessions are identified; widget events follow the searches."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []

    def event(kind: str, when: datetime, trace: str, session: str, platform: str,
              **fields: Any) -> None:
        events.append({"event_type": kind, "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
                       "trace_id": trace, "session_id": session, "timestamp": _at(when),
                       "platform": platform, "source": "server", **fields})

    for number in range(sessions):
        session = f"ses_{seed}_{number:03d}"
        platform = PLATFORMS[number % len(PLATFORMS)]
        user = f"user_{number % 15:02d}" if number % 5 < 3 else None
        when = start + timedelta(seconds=rng.randrange(int(WEEK.total_seconds()) - 7200))
        if user:
            event("identify", when, f"tr_{seed}_{number:03d}_id", session, platform,
                  user_id=user)
        for step, tool in enumerate(("search_rooms", "check_availability", "book_room")):
            if step == 1 and rng.random() > 0.7 or step == 2 and rng.random() > 0.55:
                break
            trace = f"tr_{seed}_{number:03d}_{step}"
            when += timedelta(seconds=rng.randrange(20, 300))
            failed = rng.random() < 0.1
            latency = round(TOOLS[tool][1] * rng.uniform(0.5, 2.5), 1)
            fields: dict[str, Any] = {"event_name": tool, "latency_ms": latency,
                                      "status": "error" if failed else "success",
                                      "user_id": user}
            if failed:
                fields.update(error_category=rng.choice(("validation", "timeout", "server")),
                              error_message="upstream said no")
            if rng.random() < 0.5:
                fields["intent_signals"] = {"intent": rng.choice(INTENTS)}
            event("tool_call", when, trace, session, platform, **fields)
            if failed:
                break
            if tool == "search_rooms":
                later = when + timedelta(milliseconds=int(latency))
                event("step", later, trace, session, platform, event_name="rooms_found",
                      step_sequence=0, user_id=user)
                event("widget_response", later, trace, session, platform,
                      event_name="search_rooms", user_id=user)
                event("widget_render", later + timedelta(milliseconds=300), trace, session,
                      platform, source="widget", user_id=user)
                event("widget_click", later + timedelta(seconds=4), trace, session, platform,
                      source="widget", user_id=user)
            if tool == "book_room":
                event("conversion", when + timedelta(seconds=1), trace, session, platform,
                      event_name="booking_completed", user_id=user, source="widget",
                      conversion_value=float(rng.randrange(120, 600)),
                      conversion_currency="EUR")
    return [_valid(raw) for raw in events]


def tool_registrations(when: datetime = NOW - WEEK) -> list[Any]:
    """The server's tools as it announced them (`tool_discovery`), one of them never called."""
    return [_valid({"event_type": "tool_discovery", "event_id": str(uuid.UUID(int=index)),
                    "trace_id": "tr_discovery", "session_id": "ses_discovery",
                    "timestamp": _at(when), "source": "server", "tool_name": name,
                    "description": description,
                    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}})
            for index, (name, (description, _)) in enumerate(TOOLS.items(), start=1)]


def _valid(raw: dict[str, Any]) -> Any:
    raw = {key: value for key, value in raw.items() if value is not None}
    event, issues = validate_obj(raw)
    assert not issues, (raw, issues)
    return event
