"""PII redaction (SPEC §3): what a user sees in their analytics once a payload went through it."""

from __future__ import annotations

import copy
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yavio_sdk.pii import redact, redact_text

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
YAV_KEY = "yav_" + "0123456789abcdef" * 4
YAT_TOKEN = "yat_" + "Zx9_k2-LmQ8rT4vW1yB6nH3jF5cD7sA0"
OPENAI_KEY = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5q"
GITHUB_TOKEN = "ghp_" + "aB1cD2eF3gH4iJ5kL6mN7oP8qR9sT0uV1wX2"


def _fastest_ms(text: str) -> float:
    """Best of three runs: the guard is about pathological (super-linear) cost, not noise."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        redact_text(text)
        best = min(best, time.perf_counter() - start)
    return best * 1000


# --- each kind is redacted ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("contact user@example.com for info", "contact [EMAIL_REDACTED] for info"),
        ("a@b.com and c.d+tag@mail.example.org", "[EMAIL_REDACTED] and [EMAIL_REDACTED]"),
        ("Reply to John.Doe@Example.COM.", "Reply to [EMAIL_REDACTED]."),
        (f"mail {'l' * 64}@example.com end", "mail [EMAIL_REDACTED] end"),
    ],
)
def test_email_addresses_are_redacted(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "card",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5500 0000 0000 0004",
        "3782 822463 10005",  # Amex, 15 digits grouped 4-6-5
        "6011000990139424",
        "4222222222222",  # 13-digit Visa
    ],
)
def test_luhn_valid_card_numbers_are_redacted_with_or_without_separators(card: str) -> None:
    assert redact_text(f"Card: {card}, thanks") == "Card: [CC_REDACTED], thanks"


@pytest.mark.parametrize("ssn", ["123-45-6789", "123 45 6789", "123456789"])
def test_ssn_is_redacted_in_dashed_spaced_and_contiguous_forms(ssn: str) -> None:
    assert redact_text(f"SSN: {ssn}") == "SSN: [SSN_REDACTED]"


@pytest.mark.parametrize("itin", ["912-34-5678", "987 65 4321"])
def test_itin_is_redacted_as_an_ssn(itin: str) -> None:
    assert redact_text(f"ITIN {itin}") == "ITIN [SSN_REDACTED]"


@pytest.mark.parametrize(
    "phone",
    [
        "+1 (555) 123-4567",
        "(555) 123-4567",
        "(555)123-4567",
        "555-123-4567",
        "555.123.4567",
        "555 123 4567",
        "+1-555-123-4567",
        "1-555-123-4567",
        "+15551234567",
        "+44 555 123 4567",
    ],
)
def test_phone_numbers_are_redacted(phone: str) -> None:
    assert redact_text(f"call {phone} now") == "call [PHONE_REDACTED] now"


def test_phone_at_the_end_of_a_sentence_keeps_the_full_stop() -> None:
    assert redact_text("Call me at 555-123-4567.") == "Call me at [PHONE_REDACTED]."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Lives at 123 Main Street", "Lives at [ADDRESS_REDACTED]"),
        ("42 Elm St Apt 5", "[ADDRESS_REDACTED]"),
        ("Office: 456 Oak Park Boulevard, Springfield", "Office: [ADDRESS_REDACTED], Springfield"),
        ("Send to 789 Elm Dr.", "Send to [ADDRESS_REDACTED]"),
        ("Ship to 100 Pine Ave Apt 4B today", "Ship to [ADDRESS_REDACTED] today"),
        ("HQ: 1 Infinite Loop Way, Suite 200", "HQ: [ADDRESS_REDACTED]"),
        ("at 221 Baker Ln #12", "at [ADDRESS_REDACTED]"),
        ("route 999999 Pacific Coast Hwy", "route [ADDRESS_REDACTED]"),
    ],
)
def test_us_street_addresses_are_redacted_with_their_unit(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from 192.168.1.1", "from [IP_REDACTED]"),
        ("upstream 10.0.0.255:8080 down", "upstream [IP_REDACTED]:8080 down"),
        ("v6 2001:db8::1 up", "v6 [IP_REDACTED] up"),
        ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "[IP_REDACTED]"),
        ("loopback ::1", "loopback [IP_REDACTED]"),
        ("link fe80::1ff:fe23:4567:890a", "link [IP_REDACTED]"),
        ("mapped ::ffff:192.168.1.1", "mapped [IP_REDACTED]"),
        ("http://[2001:db8::1]:8080/", "http://[[IP_REDACTED]]:8080/"),
    ],
)
def test_ipv4_and_ipv6_addresses_are_redacted(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key {YAV_KEY} ok", "key [SECRET_REDACTED] ok"),
        (f"token={YAT_TOKEN}", "token=[SECRET_REDACTED]"),
        (f"jwt {JWT}", "jwt [SECRET_REDACTED]"),
        (f"OPENAI_API_KEY={OPENAI_KEY}", "OPENAI_API_KEY=[SECRET_REDACTED]"),
        (f"gh {GITHUB_TOKEN}", "gh [SECRET_REDACTED]"),
    ],
)
def test_api_keys_tokens_and_jwts_are_redacted(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "token", ["abc123def456", "ya29.a0AfH6SMBx", "0123456789", "AbCdEfGhIjKlMnOpQrStUv"]
)
def test_only_the_token_after_bearer_is_redacted(token: str) -> None:
    redacted = redact_text(f"Authorization: Bearer {token}")
    assert redacted == "Authorization: Bearer [SECRET_REDACTED]"


def test_a_bearer_jwt_is_redacted_whole() -> None:
    assert redact_text(f"Bearer {JWT}") == "Bearer [SECRET_REDACTED]"


def test_a_key_holding_digit_runs_is_redacted_whole_not_carved_up_by_card_or_phone_rules() -> None:
    tricky = "yat_" + "abc-4111111111111111-555-123-4567-123-45-6789-xyz"
    assert redact_text(f"key {tricky} end") == "key [SECRET_REDACTED] end"
    assert redact_text("Bearer 4111111111111111") == "Bearer [SECRET_REDACTED]"


def test_several_kinds_in_one_string_are_all_redacted() -> None:
    text = "Jane <jane@corp.io>, 555-123-4567, SSN 123-45-6789, card 4111 1111 1111 1111, 10.1.2.3"
    assert redact_text(text) == (
        "Jane <[EMAIL_REDACTED]>, [PHONE_REDACTED], SSN [SSN_REDACTED], card [CC_REDACTED], "
        "[IP_REDACTED]"
    )


# --- what is not PII survives -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Processed 500 events today",
        "ID: 1234567890123",  # 13 digits, fails Luhn
        "Comparing revenue for 2022 2023 2024 2025",
        "4111 1111 1111 1112",  # Luhn-invalid 16 digits
        "order 4111111111111112",
        "id 5551234567",  # a bare run of 10 digits is not a phone
        "epoch 1732330000",
        "epoch millis 1732330000000",
        "epoch millis 1732330000008",  # passes Luhn, but no card number starts with 0 or 1
        "epoch micros 1732330000000004",  # likewise
        "San Francisco, CA 94105-1234",  # ZIP+4 is not an SSN
        "000-12-3456",  # SSN area 000 is never issued
        "666-12-3456",  # nor 666
        "123-45 6789",  # mixed separators
        "2026-11-23T02:46:23.123Z",
        "550e8400-e29b-41d4-a716-446655440000",
        "12345678-1234-4123-8123-123456789012",  # an all-digit UUID
        "version 1.2.3",
        "v1.2.3.4",
        "1.1.1.1.1.1",  # not a dotted quad
        "256.1.1.1",
        "tr_V1StGXR8_Z5jdHi6B-myT",
        "ses_123456789012345678901",
        "price $1,234.56",
        "std::vector<int>",
        "Foo::bar",
        "a bare :: here",
        "meet at 12:30:45",
        "mac 00:1A:2B:3C:4D:5E",
        "The Bearer token goes in the Authorization header.",
        "Bearer tokens and bearer authentication-schemes",
        "key yav_1a2b3c4d",  # the 12-char prefix shown in key lists
        "yat_1a2b3c4d",
        "task-management-dashboard-for-teams",
        "search_products",
        "",
    ],
)
def test_known_non_pii_survives_unchanged(text: str) -> None:
    assert redact_text(text) == text


def test_text_without_pii_comes_back_as_the_same_object() -> None:
    text = "Processed 500 events today"
    assert redact_text(text) is text


# --- whole payloads -----------------------------------------------------------------------------


def test_nested_payload_is_redacted_at_every_depth_and_the_input_is_untouched() -> None:
    payload = {
        "tool": "checkout",
        "user_email": "user@example.com",
        "input": {
            "card": "4111 1111 1111 1111",
            "shipping": [{"line1": "42 Elm St Apt 5", "notes": ["call 555-123-4567", 7]}],
            "matrix": [[["deep ssn 123-45-6789"]]],
        },
        "tags": ("from 10.0.0.1", "plain"),
        "count": 3,
    }
    before = copy.deepcopy(payload)

    result = redact(payload)

    assert payload == before
    assert result == {
        "tool": "checkout",
        "user_email": "[EMAIL_REDACTED]",
        "input": {
            "card": "[CC_REDACTED]",
            "shipping": [{"line1": "[ADDRESS_REDACTED]", "notes": ["call [PHONE_REDACTED]", 7]}],
            "matrix": [[["deep ssn [SSN_REDACTED]"]]],
        },
        "tags": ("from [IP_REDACTED]", "plain"),
        "count": 3,
    }


def test_dict_keys_are_kept_as_they_are() -> None:
    assert redact({"user@example.com": "user@example.com"}) == {
        "user@example.com": "[EMAIL_REDACTED]"
    }


def test_non_string_values_are_returned_unchanged() -> None:
    values = [None, True, False, 0, 4111111111111111, 3.14, b"user@example.com"]
    result = redact({"values": values})
    assert result["values"] == values
    assert [type(v) for v in result["values"]] == [type(v) for v in values]
    for value in values:
        assert redact(value) is value


def test_a_payload_without_pii_comes_back_as_the_same_object() -> None:
    payload = {"event_type": "tool_call", "metadata": {"items": ["a", "b"], "n": 3}}
    assert redact(payload) is payload


def test_a_value_shared_by_two_branches_is_redacted_in_both() -> None:
    shared = {"email": "user@example.com"}
    assert redact({"a": shared, "b": [shared]}) == {
        "a": {"email": "[EMAIL_REDACTED]"},
        "b": [{"email": "[EMAIL_REDACTED]"}],
    }


def test_a_deeply_nested_payload_does_not_hit_the_recursion_limit() -> None:
    payload: list = ["user@example.com"]
    for _ in range(5000):
        payload = [payload]
    result = redact(payload)
    for _ in range(5000):
        result = result[0]
    assert result == ["[EMAIL_REDACTED]"]


def test_a_container_holding_itself_is_cut_instead_of_looping() -> None:
    payload: dict = {"email": "user@example.com"}
    payload["self"] = payload
    result = redact(payload)
    assert result == {"email": "[EMAIL_REDACTED]", "self": "[Circular]"}
    assert payload["email"] == "user@example.com"


# --- linear time --------------------------------------------------------------------------------

_PROSE = (
    "Processed 500 events today for tool search_products in 1.2.3 at 12:30:45; "
    "revenue $1,234.56 across 42 regions (2022 2023 2024 2025), id 1732330000000. "
)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param((_PROSE * 400)[:32_000], id="benign prose with digits"),
        pytest.param("1" * 32_000, id="32000 digits"),
        pytest.param("a@" * 16_000, id="a@ repeated"),
        pytest.param("a" * 31_999 + "@", id="long local part"),
        pytest.param("a@" + "a." * 15_999, id="long dotted domain"),
        pytest.param("1." * 16_000, id="1.1.1.1. run"),
        pytest.param("1 " * 16_000, id="spaced digits"),
        pytest.param("1-" * 16_000, id="dashed digits"),
        pytest.param("1::" * 10_666, id="ipv6-ish run"),
        pytest.param(("1:1:1:1:1:1:1 " * 2_300)[:32_000], id="seven groups"),
        pytest.param(("12 Main Main Main Main Main " * 1_200)[:32_000], id="address-ish"),
        pytest.param("(555) " * 5_333, id="area codes"),
        pytest.param("+1 " * 10_666, id="country codes"),
        pytest.param("Bearer " * 4_571, id="bearer run"),
        pytest.param("eyJa." * 6_400, id="jwt-ish"),
        pytest.param(("4111 1111 1111 1112 " * 1_600)[:32_000], id="luhn-invalid cards"),
    ],
)
def test_32000_characters_redact_in_well_under_100_ms(text: str) -> None:
    assert _fastest_ms(text) < 100


# --- properties ---------------------------------------------------------------------------------

_FRAGMENTS = [
    "user@example.com", "4111 1111 1111 1111", "123-45-6789", "912 34 5678", "123456789",
    "+1 (555) 123-4567", "555.123.4567", "42 Elm St Apt 5", "123 Main Street", "10.0.0.1",
    "2001:db8::1", "::", "Bearer ", "abc123", YAV_KEY, "yav_1a2b", JWT, OPENAI_KEY, GITHUB_TOKEN,
    "[CC_REDACTED]", "94105-1234", "1732330000000", " ", "-", ".", ":", "@", "(", ")", "+", "#",
]
_PII_ISH_TEXT = st.lists(
    st.one_of(
        st.sampled_from(_FRAGMENTS),
        st.text(alphabet="0123456789 -.()+:@_[]#/aAbeEfFStMyJWx", max_size=8),
    ),
    max_size=10,
).map("".join)
_ANY_TEXT = st.one_of(st.text(), _PII_ISH_TEXT)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _ANY_TEXT,
    lambda children: st.lists(children) | st.dictionaries(_ANY_TEXT, children),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None)
@given(_JSON)
def test_any_json_value_is_redacted_without_raising_or_mutating_it(value: object) -> None:
    before = copy.deepcopy(value)
    redact(value)
    assert repr(value) == repr(before)  # repr: NaN != NaN, but prints the same


@settings(max_examples=500, deadline=None)
@given(_ANY_TEXT)
def test_redacting_twice_gives_the_same_text_as_redacting_once(text: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once


@settings(max_examples=500, deadline=None)
@given(_ANY_TEXT)
def test_text_only_changes_where_a_redaction_token_was_inserted(text: str) -> None:
    result = redact_text(text)
    inserted = result.count("_REDACTED]") - text.count("_REDACTED]")
    if not inserted:
        assert result == text
    if len(result) > len(text):
        assert inserted > 0
