"""The booking test server's tools, framework-free: each adapter registers them with its
framework, adding the few tools whose shape is the framework's own (an `isError` result;
sampling and elicitation through the framework's Context)."""

from __future__ import annotations

import json

from pydantic import BaseModel

from yavio_sdk import yavio

WIDGET_URI = "ui://widget/booking.html"
WIDGET_META = {"openai/outputTemplate": WIDGET_URI}
WIDGET_MIME = "text/html+skybridge"
WIDGET_HTML = ("<!doctype html><html><head><title>Booking</title></head>"
               "<body><div id='app'></div></body></html>")
SOFT_FAILURE = "rate limit exceeded, try again later"


class Confirm(BaseModel):
    confirm: bool


def search_rooms(city: str) -> str:
    """Rooms in a city."""
    yavio.step("rooms_searched", city=city)
    yavio.track("search", city=city, results=3)
    return f"3 rooms in {city}"


def book_room(room_id: str, guest: str) -> str:
    """Book a room for a guest; renders the booking widget."""
    yavio.identify(guest, {"plan": "pro", "email": f"{guest}@example.com"})
    yavio.step("room_selected", room_id=room_id)
    yavio.step("booking_confirmed")
    yavio.conversion("booking", value=120.5, currency="eur", room_id=room_id)
    return f"booked {room_id} for {guest}"


def whoami(guest: str) -> str:
    """Identify the session's guest."""
    yavio.identify(guest)
    yavio.step("hello")
    return guest


def crash(kind: str) -> str:
    """Raise an error of the given kind."""
    if kind == "auth":
        raise PermissionError("forbidden: missing scope")
    raise RuntimeError("the database went away")


def widget() -> str:
    return WIDGET_HTML


def room(room_id: str) -> str:
    return json.dumps({"room_id": room_id, "beds": 2})


def plan_stay(city: str) -> str:
    return f"Plan a two-night stay in {city}."


def sampling_answer() -> dict[str, str]:
    return {"model": "test-llm", "text": "A lovely room."}
