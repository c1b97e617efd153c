"""Who uses the demo's hotel-booking app, from which AI client, and when.

The platform mix, the people (half are signed in to the hotel's app and are identified from their
first search; a few of the others book, which identifies them too: about 60% in all; many come
back over the days), and the rhythm of a week: more on weekdays, a lunchtime bump and an
evening peak.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["CLIENTS", "Client", "Person", "Population", "session_start"]


@dataclass(frozen=True)
class Client:
    """An MCP client as it presents itself in `initialize` (SPEC 4 maps the name to a
    platform); what it can do for the server (sampling, elicitation); its share of sessions."""

    platform: str
    name: str
    version: str
    weight: float
    sampling: bool
    elicitation: bool
    user_agent: str | None = None  # ChatGPT's `openai/userAgent`: the end user's browser


CLIENTS = (
    Client("chatgpt", "openai-mcp", "1.0.0", 40, False, True,
           "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
           "Gecko) Chrome/131.0.0.0 Safari/537.36"),
    Client("claude", "claude-ai", "0.1.0", 20, False, True),
    Client("cursor", "cursor-vscode", "1.0.0", 12, False, True),
    Client("vscode", "Visual Studio Code", "1.96.2", 9, True, True),
    Client("claude-code", "claude-code", "2.0.14", 8, False, True),
    Client("windsurf", "windsurf-client", "1.12.4", 6, False, False),
    Client("gemini-cli", "gemini-cli-mcp-client", "0.9.0", 5, False, False),
)

FIRST_NAMES = ("Ada", "Grace", "Linus", "Margaret", "Alan", "Hedy", "Tim", "Barbara", "Ken",
               "Frances", "Dennis", "Radia", "Edsger", "Katherine", "John", "Sophie", "Yuki",
               "Amara", "Mateo", "Ingrid", "Priya", "Lars", "Chen", "Fatima", "Jonas")
LAST_NAMES = ("Lovelace", "Hopper", "Torvalds", "Hamilton", "Turing", "Lamarr", "Berners",
              "Liskov", "Thompson", "Allen", "Ritchie", "Perlman", "Dijkstra", "Johnson",
              "Backus", "Wilson", "Tanaka", "Okafor", "García", "Larsen", "Sharma", "Berg")
COUNTRIES = (("DE", "de-DE", 30), ("US", "en-US", 25), ("FR", "fr-FR", 12), ("GB", "en-GB", 10),
             ("PT", "pt-PT", 6), ("NL", "nl-NL", 6), ("ES", "es-ES", 6), ("JP", "ja-JP", 5))
CITIES = (("Berlin", 5), ("Paris", 4), ("Lisbon", 3), ("Rome", 1))  # no hotel in Rome: 0 found

# The hour of day (UTC) and the weekday shape traffic (weights, not rates).
HOURS = (2, 1, 1, 1, 1, 2, 4, 6, 8, 9, 9, 10, 12, 11, 9, 9, 10, 11, 13, 16, 18, 17, 12, 6)
WEEKDAYS = (1.0, 1.05, 1.0, 1.0, 0.95, 0.7, 0.6)


@dataclass
class Person:
    id: int
    client: Client
    signed_in: bool  # searches with their account's email (then `identify` names them)
    name: str
    email: str
    country: str
    locale: str
    sessions: int = 0


class Population:
    """The people of a run, drawn as they come: a few come back often, most once or twice."""

    def __init__(self, rng: random.Random, size: int) -> None:
        self.rng = rng
        self.people = [self._person(index) for index in range(max(size, 10))]
        # Zipf-like: person k comes back about 1/(k+1)^0.8 as often as the first.
        self._weights = [1 / (index + 1) ** 0.8 for index in range(len(self.people))]
        self._cumulative: list[float] = []
        total = 0.0
        for weight in self._weights:
            total += weight
            self._cumulative.append(total)

    def _person(self, index: int) -> Person:
        rng = self.rng
        client = rng.choices(CLIENTS, [c.weight for c in CLIENTS])[0]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        country, locale, _ = rng.choices(COUNTRIES, [c[2] for c in COUNTRIES])[0]
        return Person(index, client, rng.random() < 0.5, f"{first} {last}",
                      f"{first}.{last}.{index}@example.com".lower(), country, locale)

    def pick(self) -> Person:
        chosen = self.rng.choices(self.people, cum_weights=self._cumulative)[0]
        chosen.sessions += 1
        return chosen

    def client_for(self, person: Person) -> Client:
        """Mostly the person's usual client; sometimes another one."""
        if self.rng.random() < 0.85:
            return person.client
        return self.rng.choices(CLIENTS, [c.weight for c in CLIENTS])[0]


def session_start(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A moment in [start, end) drawn by the weekly and daily rhythm."""
    days = max(1, (end - start).days + 1)
    first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while True:
        day = first + timedelta(days=rng.choices(
            range(days), [WEEKDAYS[(first + timedelta(days=d)).weekday()] for d in range(days)]
        )[0]) if days <= 31 else first + timedelta(days=rng.randrange(days))
        hour = rng.choices(range(24), HOURS)[0]
        when = day + timedelta(hours=hour, seconds=rng.random() * 3600)
        if start <= when < end:
            return when


def stay(rng: random.Random, when: datetime) -> dict[str, Any]:
    """Dates and guests of a stay someone looks for at `when`: 1 to 60 days ahead."""
    check_in = (when + timedelta(days=rng.randint(1, 60))).date()
    nights = rng.choices((1, 2, 3, 4, 5, 7), (10, 25, 30, 15, 10, 10))[0]
    return {"city": rng.choices([c for c, _ in CITIES], [w for _, w in CITIES])[0],
            "check_in": check_in.isoformat(),
            "check_out": (check_in + timedelta(days=nights)).isoformat(),
            "guests": rng.choices((1, 2, 3, 4), (25, 50, 15, 10))[0]}


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
