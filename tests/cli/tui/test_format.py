"""How the dashboard writes durations: a tool call's milliseconds and a session's minutes read
in the unit a person would use for them."""

import pytest

from yavio_cli.tui.format import duration


@pytest.mark.parametrize(("ms", "shown"), [
    (None, "—"), (4.25, "4.2 ms"), (182.4, "182 ms"), (2350, "2.35 s"), (59_400, "59.40 s"),
    (59_600, "1m 00s"), (423_000, "7m 03s"), (3_569_000, "59m 29s"), (3_600_000, "1h 00m"),
    (7_500_000, "2h 05m"),
])
def test_durations_read_in_milliseconds_seconds_minutes_or_hours(ms, shown):
    assert duration(ms) == shown
