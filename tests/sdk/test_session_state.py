"""Each session keeps its own user, traits and history, in bounded maps, safely across threads."""

from __future__ import annotations

import logging
import threading

import pytest

from yavio_sdk.session_state import PrecedingEvent, SessionStore, StepCounter


def test_identify_ties_the_session_to_the_user_with_their_traits() -> None:
    sessions = SessionStore()
    assert sessions.identify("ses_a", "user_42", {"plan": "pro"}) is True
    state = sessions.get("ses_a")
    assert (state.user_id, state.traits) == ("user_42", {"plan": "pro"})


def test_identifying_the_same_user_again_merges_traits_later_values_winning() -> None:
    sessions = SessionStore()
    sessions.identify("ses_a", "user_42", {"plan": "free", "country": "DE"})
    assert sessions.identify("ses_a", "user_42", {"plan": "pro"}) is True
    assert sessions.get("ses_a").traits == {"plan": "pro", "country": "DE"}


def test_a_different_user_later_in_the_session_is_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sessions = SessionStore()
    sessions.identify("ses_a", "alice@example.com", {"plan": "pro"})
    with caplog.at_level(logging.WARNING, logger="yavio"):
        assert sessions.identify("ses_a", "bob@example.com", {"plan": "free"}) is False
    state = sessions.get("ses_a")
    assert (state.user_id, state.traits) == ("alice@example.com", {"plan": "pro"})
    [record] = caplog.records
    assert record.name == "yavio" and "different user" in record.getMessage()
    # User ids are often emails: the log names neither.
    assert "alice" not in record.getMessage() and "bob" not in record.getMessage()


def test_two_sessions_never_share_a_user_or_traits() -> None:
    sessions = SessionStore()
    sessions.identify("ses_a", "alice", {"plan": "pro"})
    sessions.identify("ses_b", "bob", {"plan": "free"})
    assert sessions.get("ses_a").user_id == "alice"
    assert sessions.get("ses_b").user_id == "bob"
    assert sessions.get("ses_b").traits == {"plan": "free"}
    assert sessions.get("ses_c").user_id is None


@pytest.mark.parametrize("user_id", ["", None, 42])
def test_identify_without_a_usable_user_id_is_ignored_with_a_warning(
    user_id: object, caplog: pytest.LogCaptureFixture,
) -> None:
    sessions = SessionStore()
    with caplog.at_level(logging.WARNING, logger="yavio"):
        accepted = sessions.identify("ses_a", user_id, {"plan": "pro"})  # type: ignore[arg-type]
    assert accepted is False
    assert sessions.get("ses_a").user_id is None
    assert len(caplog.records) == 1


def test_traits_that_are_not_a_mapping_are_dropped_but_the_user_is_identified(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sessions = SessionStore()
    with caplog.at_level(logging.WARNING, logger="yavio"):
        assert sessions.identify("ses_a", "alice", ["pro"]) is True  # type: ignore[arg-type]
    assert (sessions.get("ses_a").user_id, sessions.get("ses_a").traits) == ("alice", {})
    assert len(caplog.records) == 1


def test_traits_given_by_the_caller_are_copied_not_kept() -> None:
    sessions = SessionStore()
    traits = {"plan": "pro"}
    sessions.identify("ses_a", "alice", traits)
    traits["plan"] = "changed later by the caller"
    assert sessions.get("ses_a").traits == {"plan": "pro"}


def test_client_details_from_initialize_are_kept_per_session() -> None:
    sessions = SessionStore()
    sessions.set_client("ses_a", platform="cursor", client_name="cursor-vscode",
                        client_version="1.2.4", protocol_version="2025-06-18",
                        intent_enabled=True)
    sessions.set_client("ses_a", client_version="1.2.5")
    state = sessions.get("ses_a")
    assert (state.platform, state.client_name, state.client_version,
            state.protocol_version, state.intent_enabled) == (
        "cursor", "cursor-vscode", "1.2.5", "2025-06-18", True)
    assert sessions.get("ses_b").platform == "unknown"


def test_the_oldest_unused_session_is_forgotten_when_the_bound_is_reached() -> None:
    sessions = SessionStore(max_sessions=3)
    for session_id in ("ses_1", "ses_2", "ses_3"):
        sessions.identify(session_id, f"user_{session_id}")
    sessions.get("ses_1")  # used again: now the most recent
    sessions.identify("ses_4", "user_ses_4")
    assert len(sessions) == 3
    assert "ses_2" not in sessions
    assert all(s in sessions for s in ("ses_1", "ses_3", "ses_4"))
    # Seen again after eviction, a session starts blank rather than with someone else's user.
    assert sessions.get("ses_2").user_id is None


def test_peeking_does_not_create_a_session_and_discarding_forgets_it() -> None:
    sessions = SessionStore()
    assert sessions.peek("ses_a") is None and len(sessions) == 0
    sessions.identify("ses_a", "alice")
    assert sessions.discard("ses_a").user_id == "alice"
    assert sessions.peek("ses_a") is None
    assert sessions.discard("ses_a") is None


def test_recording_an_event_returns_the_one_before_it_in_that_session_only() -> None:
    sessions = SessionStore()
    assert sessions.record_event("ses_a", "tool_call", "search_rooms") is None
    assert sessions.record_event("ses_b", "tool_call", "book_room") is None
    assert sessions.record_event("ses_a", "step") == PrecedingEvent("tool_call", "search_rooms")
    assert sessions.record_event("ses_a", "tool_call", "book_room") == PrecedingEvent("step", None)


def test_concurrent_events_of_one_session_each_see_a_different_preceding_event() -> None:
    sessions = SessionStore()
    seen: list[PrecedingEvent | None] = []
    lock = threading.Lock()

    def emit(worker: int) -> None:
        for n in range(500):
            preceding = sessions.record_event("ses_a", "track", f"{worker}-{n}")
            with lock:
                seen.append(preceding)

    threads = [threading.Thread(target=emit, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Every event but the very first sees a predecessor, and no predecessor is seen twice.
    assert seen.count(None) == 1
    names = [p.name for p in seen if p is not None]
    assert len(names) == len(set(names)) == 8 * 500 - 1


def test_steps_of_a_trace_are_numbered_from_zero_and_traces_do_not_share_numbers() -> None:
    steps = StepCounter()
    assert [steps.next_step("tr_a") for _ in range(3)] == [0, 1, 2]
    assert steps.next_step("tr_b") == 0
    assert steps.peek("tr_a") == 3  # where the widget continues the sequence
    assert steps.peek("tr_unknown") == 0


def test_a_finished_trace_is_forgotten_and_the_trace_map_stays_bounded() -> None:
    steps = StepCounter(max_traces=2)
    steps.next_step("tr_a")
    steps.next_step("tr_b")
    steps.next_step("tr_a")
    steps.next_step("tr_c")  # evicts tr_b, the least recently used
    assert len(steps) == 2 and steps.peek("tr_b") == 0 and steps.peek("tr_a") == 2
    steps.discard("tr_a")
    assert steps.peek("tr_a") == 0 and len(steps) == 1


def test_steps_from_many_threads_get_distinct_numbers() -> None:
    steps = StepCounter()
    numbers: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        mine = [steps.next_step("tr_shared") for _ in range(1_000)]
        with lock:
            numbers.extend(mine)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(numbers) == list(range(8_000))


@pytest.mark.parametrize("factory", [lambda: SessionStore(max_sessions=0),
                                     lambda: StepCounter(max_traces=0)])
def test_a_bound_below_one_is_refused(factory) -> None:
    with pytest.raises(ValueError):
        factory()
