"""A hotel booking MCP server, instrumented with Yavio: the SDK's example and its demo server.

It shows every part of the SDK on an official `mcp` 2.x `MCPServer`:

- `with_yavio(server)`: one call records every tool call, resource read, prompt, sampling
  request and elicitation, and each client session's start and end, without touching a handler;
- `yavio.step(...)`, `yavio.track(...)`, `yavio.conversion(...)` and `yavio.identify(...)` inside
  the tools, for the funnel from "searched" to "booked" (an instrumented server's tools also
  find the same API on their `Context`, as `ctx.yavio.step(...)`);
- ChatGPT Apps widgets (`ui://widget/rooms.html` for the rooms found, `ui://widget/booking.html`
  for a booking): a tool that renders one gets a `_meta.yavio` config in its result (a widget
  token, the trace and session ids), so the widget's own events join the same trace;
- failures and their `error_category`: `check_availability` asks the hotels' partner API, whose
  sandbox rooms fail on purpose, one per kind of failure (`SANDBOX_FAILURES`).

Run it with your project's API key and the Yavio server's address (`yavio up` starts one on
http://127.0.0.1:3001):

    export YAVIO_API_KEY=yav_...              # your project's API key
    export YAVIO_ENDPOINT=http://127.0.0.1:3001

    python examples/hotel_booking.py                      # stdio, for Claude Desktop, Cursor, ...
    python examples/hotel_booking.py --http --port 8000   # streamable HTTP on http://127.0.0.1:8000/mcp

The key can also come from code (`build_server(api_key=...)`) or from a `.yaviorc.json`.
Without one the server runs exactly the same, with analytics off.

Over stdio the server owns stdout (it is the protocol's channel), so nothing here prints:
logs go to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import uuid
import warnings
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from mcp import types
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPDeprecationWarning
from pydantic import BaseModel, Field

from yavio_sdk import with_yavio, yavio

logger = logging.getLogger("hotel_booking")

WIDGET_URI = "ui://widget/booking.html"
ROOMS_WIDGET_URI = "ui://widget/rooms.html"


# -- the hotel's data (in memory: each server built by build_server has its own) ----------------

@dataclass(frozen=True)
class Room:
    id: str
    hotel: str
    city: str
    kind: str
    capacity: int
    price_per_night: float  # EUR


ROOMS = [
    Room("ber-1", "Spree Loft", "Berlin", "double", 2, 120.0),
    Room("ber-2", "Spree Loft", "Berlin", "family suite", 4, 210.0),
    Room("ber-3", "Hotel Tiergarten", "Berlin", "single", 1, 85.0),
    Room("par-1", "Le Petit Marais", "Paris", "double", 2, 165.0),
    Room("par-2", "Le Petit Marais", "Paris", "junior suite", 3, 240.0),
    Room("lis-1", "Casa Alfama", "Lisbon", "double", 2, 95.0),
    Room("lis-2", "Casa Alfama", "Lisbon", "apartment", 4, 150.0),
]

# The hotels' partner API (simulated here) is what `check_availability` asks for live
# availability. Like real partner APIs it has sandbox rooms that fail on purpose, one per way a
# call to an API fails; Yavio files each under its `error_category` (timeout, rate_limit, auth,
# server) by the exception's type or HTTP status. No real room ever fails.
SANDBOX_FAILURES = {
    "sandbox-timeout": "timeout",
    "sandbox-rate-limit": "rate_limit",
    "sandbox-expired-credentials": "auth",
    "sandbox-error-500": "server",
}


class PartnerApiError(Exception):
    """An error answer of the partner API, with its HTTP status (as httpx's errors carry one)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


async def partner_availability(room_id: str) -> None:
    """Ask the partner API about a room: fine for a real room, the sandbox room's failure else."""
    failure = SANDBOX_FAILURES.get(room_id)
    if failure == "timeout":
        raise TimeoutError("the partner API did not answer within 5 s")
    if failure == "rate_limit":
        raise PartnerApiError(429, "partner API: too many requests, retry in 30 s")
    if failure == "auth":
        raise PartnerApiError(401, "partner API: the hotel's API credentials have expired")
    if failure == "server":
        raise PartnerApiError(500, "partner API: internal server error")


POLICIES = """\
Check-in from 15:00, check-out until 11:00.
Free cancellation until the day before arrival.
Prices are per room and night, in euros, breakfast included.
"""

WIDGET_HTML = """\
<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>Your booking</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 16px; color: #1d1d1f; }
  .card { border: 1px solid #ddd; border-radius: 12px; padding: 16px; max-width: 420px; }
  h1 { font-size: 18px; margin: 0 0 8px; }
  dl { display: grid; grid-template-columns: auto 1fr; gap: 4px 12px; margin: 0; }
  dt { color: #666; }
  .analytics { margin-top: 12px; font-size: 12px; color: #888; }
</style>
</head>
<body>
<div class="card">
  <h1 id="title">Your booking</h1>
  <dl id="details"></dl>
  <div class="analytics" id="analytics"></div>
</div>
<script>
  // ChatGPT hands the tool's structured result to the widget as window.openai.toolOutput, and
  // its _meta as window.openai.toolResponseMetadata; Yavio's config is under _meta.yavio (or in
  // window.__YAVIO__ when the server injects it into this page). This page only displays them.
  (function () {
    var openai = window.openai || {};
    var booking = openai.toolOutput || {};
    var config = (openai.toolResponseMetadata && openai.toolResponseMetadata.yavio)
      || window.__YAVIO__ || null;
    var rows = [
      ["Booking", booking.booking_id], ["Hotel", booking.hotel], ["Room", booking.room],
      ["Guest", booking.guest_name], ["Dates", booking.check_in && booking.check_in + " to "
        + booking.check_out], ["Total", booking.total_price != null && booking.total_price
        + " " + (booking.currency || "EUR")]
    ];
    document.getElementById("title").textContent =
      booking.status === "confirmed" ? "Booking confirmed" : "Your booking";
    var details = document.getElementById("details");
    rows.forEach(function (row) {
      if (!row[1]) return;
      var dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = row[0];
      dd.textContent = String(row[1]);
      details.appendChild(dt);
      details.appendChild(dd);
    });
    document.getElementById("analytics").textContent = config
      ? "Analytics: trace " + config.traceId + ", step " + config.stepSequence
      : "Analytics off";
  })();
</script>
</body>
</html>
"""


ROOMS_WIDGET_HTML = """\
<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>Rooms</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 16px; color: #1d1d1f; }
  ul { display: flex; gap: 12px; overflow-x: auto; list-style: none; padding: 0; margin: 0; }
  li { border: 1px solid #ddd; border-radius: 12px; padding: 12px; min-width: 180px; }
  .price { color: #666; }
</style>
</head>
<body>
<ul id="rooms"></ul>
<script>
  // The rooms of the search result (window.openai.toolOutput), as a carousel of cards.
  (function () {
    var found = (window.openai && window.openai.toolOutput) || {};
    var list = document.getElementById("rooms");
    (found.rooms || []).forEach(function (room) {
      var card = document.createElement("li");
      card.textContent = room.hotel + ", " + room.kind;
      var price = document.createElement("div");
      price.className = "price";
      price.textContent = room.total_price + " EUR for " + found.nights + " nights";
      card.appendChild(price);
      list.appendChild(card);
    });
  })();
</script>
</body>
</html>
"""


class BookingConfirmation(BaseModel):
    """What the user is asked before a booking (an MCP elicitation form)."""

    confirm: bool = Field(description="Book this room?")


# -- the server ----------------------------------------------------------------------------------

def build_server(**yavio_options: Any) -> MCPServer:
    """A fresh hotel booking server with its own bookings, instrumented by Yavio.

    `yavio_options` go to `with_yavio` (`api_key=`, `endpoint=`, `intent=True`, ...); without
    them the config comes from YAVIO_API_KEY/YAVIO_ENDPOINT or a `.yaviorc.json`.
    """
    rooms = {room.id: room for room in ROOMS}
    bookings: dict[str, dict[str, Any]] = {}

    mcp = MCPServer(
        "hotel-booking",
        instructions="Search hotel rooms, check availability, book and cancel stays.",
    )

    def nights_between(check_in: str, check_out: str) -> int:
        try:
            nights = (date.fromisoformat(check_out) - date.fromisoformat(check_in)).days
        except ValueError:
            raise ValueError("dates must be YYYY-MM-DD") from None
        if nights < 1:
            raise ValueError("check_out must be after check_in")
        return nights

    def is_free(room_id: str, check_in: str, check_out: str) -> bool:
        return not any(
            booking["room_id"] == room_id and booking["status"] == "confirmed"
            and booking["check_in"] < check_out and check_in < booking["check_out"]
            for booking in bookings.values())

    # -- tools -----------------------------------------------------------------------------------

    def identify_guest(guest_email: str, traits: dict[str, Any]) -> None:
        # A stable pseudonymous id (Yavio redacts the email in stored traits).
        guest_id = "guest_" + hashlib.sha256(guest_email.strip().lower().encode()).hexdigest()[:12]
        yavio.identify(guest_id, {**traits, "email": guest_email})

    @mcp.tool(meta={"openai/outputTemplate": ROOMS_WIDGET_URI})
    async def search_rooms(city: str, check_in: str, check_out: str, ctx: Context,
                           guests: int = 1, guest_email: str | None = None) -> dict[str, Any]:
        """Find free rooms in a city for the given dates (YYYY-MM-DD) and number of guests.

        `guest_email`: the signed-in guest's account email, if the user is signed in. The result
        renders the rooms widget.
        """
        if guest_email:
            identify_guest(guest_email, {"signed_in": True})
        nights = nights_between(check_in, check_out)
        found = [
            {**asdict(room), "total_price": room.price_per_night * nights}
            for room in rooms.values()
            if room.city.lower() == city.strip().lower() and room.capacity >= guests
            and is_free(room.id, check_in, check_out)
        ]
        found.sort(key=lambda room: room["price_per_night"])
        # A funnel step: Yavio ties it to this tool call's trace.
        yavio.step("rooms_searched", city=city, results=len(found))

        pitch = None
        if found:
            pitch = await pitch_for(ctx, found[0])
        return {"city": city, "nights": nights, "rooms": found, "pitch": pitch}

    async def pitch_for(ctx: Context, room: dict[str, Any]) -> str | None:
        """A one-line pitch from the client's model (MCP sampling), if the client can give one.

        Only clients on a handshake-era connection that declared `sampling` can be asked; on
        the 2026-07-28 protocol the request fails (NoBackChannelError) and the search goes on
        without a pitch. Yavio records the request as a `sampling_call` event either way.
        """
        capabilities = ctx.client_capabilities
        if capabilities is None or capabilities.sampling is None:
            return None
        prompt = (f"In one short line, pitch this hotel room to a traveller: the {room['kind']} "
                  f"at {room['hotel']} in {room['city']}, {room['price_per_night']:.0f} EUR "
                  "a night.")
        try:
            answer = await ctx.session.create_message(
                [types.SamplingMessage(role="user",
                                       content=types.TextContent(type="text", text=prompt))],
                max_tokens=60)
        except Exception as problem:  # no back-channel, the client refused, a timeout, ...
            logger.info("no pitch: %s", problem)
            return None
        return answer.content.text if isinstance(answer.content, types.TextContent) else None

    @mcp.tool()
    async def check_availability(room_id: str, check_in: str, check_out: str) -> dict[str, Any]:
        """Whether a room is free for the given dates, and what the stay would cost."""
        await partner_availability(room_id)
        room = rooms.get(room_id)
        if room is None:
            raise ValueError(f"unknown room {room_id!r}")
        nights = nights_between(check_in, check_out)
        available = is_free(room_id, check_in, check_out)
        yavio.step("availability_checked", room_id=room_id, available=available)
        return {"room_id": room_id, "available": available, "nights": nights,
                "total_price": room.price_per_night * nights, "currency": "EUR"}

    @mcp.tool(meta={"openai/outputTemplate": WIDGET_URI})
    async def book_room(room_id: str, guest_name: str, guest_email: str, check_in: str,
                        check_out: str, ctx: Context) -> dict[str, Any]:
        """Book a room; the user is asked to confirm first when the client supports it.

        The result renders the booking widget; Yavio adds its widget config to `_meta.yavio`.
        """
        room = rooms.get(room_id)
        if room is None:
            raise ValueError(f"unknown room {room_id!r}")
        nights = nights_between(check_in, check_out)
        if not is_free(room_id, check_in, check_out):
            raise ValueError(f"room {room_id} is not free from {check_in} to {check_out}")
        total = room.price_per_night * nights

        # Ask the user (MCP elicitation). A client that cannot be asked gets the booking, as it
        # would have without the question; Yavio records the answer as an `elicitation` event.
        try:
            answer = await ctx.elicit(
                f"Book the {room.kind} at {room.hotel} for {nights} nights, {total:.2f} EUR?",
                BookingConfirmation)
        except Exception as problem:
            logger.info("booking without confirmation: %s", problem)
        else:
            if answer.action != "accept" or not answer.data.confirm:
                yavio.step("booking_declined", room_id=room_id)
                return {"status": "not_booked", "room_id": room_id,
                        "message": "The booking was not confirmed; nothing was booked."}

        booking_id = "bk_" + uuid.uuid4().hex[:10]
        bookings[booking_id] = {
            "booking_id": booking_id, "status": "confirmed", "room_id": room_id,
            "hotel": room.hotel, "room": room.kind, "guest_name": guest_name,
            "check_in": check_in, "check_out": check_out, "total_price": total,
            "currency": "EUR",
        }
        identify_guest(guest_email, {"name": guest_name})  # who booked
        yavio.step("booking_confirmed", room_id=room_id, nights=nights)
        yavio.conversion("booking_completed", value=total, currency="EUR", room_id=room_id)
        return dict(bookings[booking_id])

    @mcp.tool()
    async def cancel_booking(booking_id: str) -> types.CallToolResult:
        """Cancel a booking."""
        booking = bookings.get(booking_id)
        if booking is None:
            # A raised exception becomes an error result; Yavio records its real message.
            raise ValueError(f"no booking {booking_id!r}")
        if booking["status"] == "cancelled":
            # An error result without raising, for an expected failure.
            return types.CallToolResult(
                content=[types.TextContent(type="text",
                                           text=f"Booking {booking_id} is already cancelled.")],
                is_error=True)
        booking["status"] = "cancelled"
        yavio.track("booking_cancelled", booking_id=booking_id, room_id=booking["room_id"])
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=f"Booking {booking_id} is cancelled.")],
            structured_content={"booking_id": booking_id, "status": "cancelled"})

    # -- resources -------------------------------------------------------------------------------

    @mcp.resource(WIDGET_URI, mime_type="text/html+skybridge",
                  meta={"openai/widgetDescription": "Shows a hotel booking."})
    def booking_widget() -> str:
        """The booking widget (ChatGPT Apps)."""
        return WIDGET_HTML

    @mcp.resource(ROOMS_WIDGET_URI, mime_type="text/html+skybridge",
                  meta={"openai/widgetDescription": "Shows the rooms a search found."})
    def rooms_widget() -> str:
        """The rooms widget (ChatGPT Apps)."""
        return ROOMS_WIDGET_HTML

    @mcp.resource("hotel://policies", mime_type="text/plain")
    def policies() -> str:
        """Check-in, check-out and cancellation policies."""
        return POLICIES

    @mcp.resource("hotel://rooms/{room_id}", mime_type="application/json")
    def room_details(room_id: str) -> str:
        """One room's details, as JSON."""
        room = rooms.get(room_id)
        if room is None:
            raise ValueError(f"unknown room {room_id!r}")
        return json.dumps(asdict(room))

    # -- prompts ---------------------------------------------------------------------------------

    @mcp.prompt()
    def plan_stay(city: str, nights: int) -> str:
        """Plan a stay: search, compare and book."""
        return (f"I want to stay {nights} nights in {city}. Search the free rooms with "
                "search_rooms, compare them, check the best one with check_availability, and "
                "book it with book_room once I say which one I want.")

    # Instrument the server (in place; it is also returned). Without an API key it is left as is.
    return with_yavio(mcp, **yavio_options)


def main() -> None:
    parser = argparse.ArgumentParser(description="The Yavio hotel booking example MCP server.")
    parser.add_argument("--http", action="store_true",
                        help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")  # to stderr
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per batch of events
    # Sampling is deprecated by the 2026-07-28 protocol; this demo still asks clients that offer it.
    warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

    server = build_server()
    try:
        if args.http:
            server.run("streamable-http", host=args.host, port=args.port)
        else:
            server.run("stdio")
    except KeyboardInterrupt:  # Ctrl-C: uvicorn has shut down gracefully already
        pass


if __name__ == "__main__":
    main()
