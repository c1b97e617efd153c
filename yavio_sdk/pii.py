"""PII redaction (SPEC §3), shared by the SDK (before sending) and the ingest (on every event).

`redact(value)` returns a redacted copy of any JSON-like value: every string at any depth of dicts,
lists and tuples is passed through `redact_text`; dict keys and non-string scalars are kept as they
are. Nothing is ever mutated. Whatever holds no PII comes back as the very same object, so
`redact(value) is not value` tells a caller that something was redacted.

Kinds and their tokens, run in SPEC order except that secrets run first (see `_redact_pass`):

    email                                   [EMAIL_REDACTED]
    payment card, Luhn-valid                [CC_REDACTED]
    US SSN and ITIN                         [SSN_REDACTED]
    phone                                   [PHONE_REDACTED]
    US street address                       [ADDRESS_REDACTED]
    IPv4 / IPv6                             [IP_REDACTED]
    API keys, tokens, JWTs                  [SECRET_REDACTED]

Every pattern uses bounded quantifiers and no ambiguous nesting, and each starts only where a
lookbehind says a new token begins, so a string costs time linear in its length whatever it holds.
A string that cannot match (no digit, `@`, `:` or key-like prefix) is returned after a few C-level
scans; each pattern runs only when the string has what it needs (an `@`, a 9-digit run, ...).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "ADDRESS_TOKEN",
    "CARD_TOKEN",
    "EMAIL_TOKEN",
    "IP_TOKEN",
    "PHONE_TOKEN",
    "SECRET_TOKEN",
    "SSN_TOKEN",
    "redact",
    "redact_text",
]

EMAIL_TOKEN = "[EMAIL_REDACTED]"
CARD_TOKEN = "[CC_REDACTED]"
SSN_TOKEN = "[SSN_REDACTED]"
PHONE_TOKEN = "[PHONE_REDACTED]"
ADDRESS_TOKEN = "[ADDRESS_REDACTED]"
IP_TOKEN = "[IP_REDACTED]"
SECRET_TOKEN = "[SECRET_REDACTED]"

# Cap for "N or more characters" runs (key bodies, JWT segments). A whole event is at most
# 51,200 bytes, so this never truncates a real value; it only keeps every quantifier bounded.
_RUN = 65536

# A string reaches the patterns only if it holds one of these; everything else (tool names,
# event types, most prose) is returned after a handful of C-level scans.


def _starts(first: str, *not_after: str) -> str:
    """Pattern text for `first` (fixed width), refused right after any of `not_after`.

    The boundary is checked after consuming `first`, not before: `re` skips straight to candidate
    offsets only when a pattern begins with a literal or a character class, while a leading
    lookbehind runs the whole matcher at every offset (3–7x slower on long strings).
    """
    return first + "".join(f"(?<!{before}{first})" for before in not_after)


# Numbers must stand on their own: not glued to an identifier (`tr_123…`, UUID groups, hex), not
# the tail of a decimal, not right after a token this module inserted. `]` and `[` are in these
# sets so a token never makes its neighbour a fresh match when redacted text is redacted again.
_NOT_AFTER_NUMBER = (r"[\w.\]]", r"\w[-+]")
_NUM_END = r"(?![\w\[])(?![.-]\w)"

# Every card, SSN and phone holds a run of at least 9 digits, starting as a number starts, with at
# most two of ` ().-` between digits. Where there is none (UUIDs, ISO timestamps, `tr_` ids,
# prose), those three patterns are skipped: 1.5 µs instead of 4 µs on a UUID.
_NUMBER_RUN = re.compile(_starts("[0-9]", *_NOT_AFTER_NUMBER) + r"(?:[ ().-]{0,2}[0-9]){8}")

# --- secrets ------------------------------------------------------------------------------------

# Keys recognised by their prefix. A 12-char key prefix as shown in key lists (`yav_1a2b3c4d`)
# is far too short for any of these and survives.
_PREFIXED_SECRET = re.compile(
    "|".join((
        _starts("yav_", "[A-Za-z0-9]") + "[0-9a-f]{64}",
        _starts("yat_", "[A-Za-z0-9]") + f"[A-Za-z0-9_-]{{32,{_RUN}}}",
        _starts("eyJ", "[A-Za-z0-9_-]")
        + f"[A-Za-z0-9_-]{{1,{_RUN}}}\\.[A-Za-z0-9_-]{{1,{_RUN}}}\\.[A-Za-z0-9_-]{{0,{_RUN}}}",
        _starts("sk-", "[A-Za-z0-9_-]") + f"[A-Za-z0-9_-]{{20,{_RUN}}}",
        _starts("ghp_", "[A-Za-z0-9_]") + f"[A-Za-z0-9]{{36,{_RUN}}}",
    ))
)

# Scheme name, then an RFC 6750 b64token; only the token is replaced.
_BEARER = re.compile(
    _starts("[Bb]", r"\w") + f"(?:earer|EARER)[ \\t]{{1,4}}([A-Za-z0-9._~+/-]{{6,{_RUN}}}={{0,3}})"
)


def _bearer_token(match: re.Match[str]) -> str:
    """Redact the credential after `Bearer`, but not an English word ("Bearer tokens").

    A token counts as a credential when it has a digit, or is at least 20 characters mixing upper
    and lower case (random base62). Lower-case words, hyphenated prose ("authentication-scheme")
    and placeholders in capitals (`YOUR_API_KEY`) survive. A trailing full stop is sentence
    punctuation, not part of the token.
    """
    token = match.group(1).rstrip(".")
    has_digit = any(c.isdigit() for c in token)
    random_case = len(token) >= 20 and token.lower() != token != token.upper()
    if len(token) >= 6 and (has_digit or random_case):
        start = match.start(1) - match.start()
        whole = match.group()
        return whole[:start] + SECRET_TOKEN + whole[start + len(token):]
    return match.group()


# --- email --------------------------------------------------------------------------------------

# The local part starts where a run of local-part characters starts, so a 32,000-char run is
# tried once, not at every offset (an RFC-invalid local part over 64 chars is left alone).
# Domain ≤ 255 chars in all: 1 + 229 + 1 + 24.
_EMAIL = re.compile(
    _starts("[A-Za-z0-9._%+-]", r"[A-Za-z0-9._%+\]-]")
    + r"[A-Za-z0-9._%+-]{0,63}"
    + r"@[A-Za-z0-9-][A-Za-z0-9.-]{0,229}\.[A-Za-z]{2,24}(?![A-Za-z0-9\[-])"
)

# --- payment card -------------------------------------------------------------------------------

# 13–19 digits, single space or dash between any two, taken as a whole cluster: a card is never
# carved out of a longer run of digits. Payment cards start with 2–6 (Mastercard 2/5, Amex, Diners
# and JCB 3, Visa 4, Discover, UnionPay and Maestro 5–6); requiring that keeps the one Luhn-valid
# epoch timestamp in ten (ms, µs and ns all start with 1) and other ids starting 0, 1 or 7–9.
_CARD = re.compile(
    _starts("[2-6]", *_NOT_AFTER_NUMBER, r"[0-9][ -]")
    + r"(?:[ -]?[0-9]){12,18}(?![ -]?[0-9])"
    + _NUM_END
)
_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def _luhn_valid(digits: str) -> bool:
    total = sum(int(d) for d in digits[-1::-2])
    total += sum(_LUHN_DOUBLED[int(d)] for d in digits[-2::-2])
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    text = match.group()
    if _luhn_valid(text.replace(" ", "").replace("-", "")):
        return CARD_TOKEN
    return text


# --- SSN and ITIN -------------------------------------------------------------------------------

# NNN-NN-NNNN, NNN NN NNNN (the same separator twice) or 9 contiguous digits. Area 000 and 666
# are never issued; 9xx is not an SSN but is exactly the ITIN range (9XX-XX-XXXX), which takes
# the same token, so one pattern covers both. A ZIP+4 (94105-1234) has the wrong shape.
_SSN = re.compile(
    _starts("[0-9]", *_NOT_AFTER_NUMBER)
    + r"[0-9]{2}(?<!000)(?<!666)([- ]?)[0-9]{2}\1[0-9]{4}"
    + _NUM_END
)

# --- phone --------------------------------------------------------------------------------------

# Area code (optionally in parentheses), 3 + 4 digits, separators `-`, `.` or space. Without a
# `+` the number must show a parenthesis or a separator: a bare run of 10 digits is an id or an
# epoch timestamp, not a phone. A country code without `+` must be followed by a separator.
_NATIONAL = (
    r"(?:\([0-9]{3}\)[-. ]?[0-9]{3}[-. ]?[0-9]{4}"
    r"|[0-9]{3}[-. ][0-9]{3}[-. ]?[0-9]{4}"
    r"|[0-9]{6}[-. ][0-9]{4})"
)
# The first character is consumed up front (see `_starts`); each branch continues from it.
_PHONE = re.compile(
    _starts("[+(0-9]", *_NOT_AFTER_NUMBER)
    + r"(?:(?<=\+)[0-9]{1,3}[-. ]?(?:" + _NATIONAL + r"|[0-9]{10})"  # +1 555 123 4567, +15551234567
    + r"|(?<=\()[0-9]{3}\)[-. ]?[0-9]{3}[-. ]?[0-9]{4}"  # (555) 123-4567
    + r"|(?<=[0-9])(?:[0-9]{0,2}[-. ]" + _NATIONAL  # 1-555-123-4567, 44 (555) 123 4567
    + r"|[0-9]{2}[-. ][0-9]{3}[-. ]?[0-9]{4}|[0-9]{5}[-. ][0-9]{4}))"  # 555.123.4567, 555123-4567
    + _NUM_END
)

# --- US street address --------------------------------------------------------------------------

_STREET_SUFFIX = (
    "Street|St|Avenue|Ave|Boulevard|Blvd|Drive|Dr|Lane|Ln|Road|Rd|Court|Ct|Place|Pl|Way"
    "|Circle|Cir|Terrace|Ter|Trail|Trl|Parkway|Pkwy|Highway|Hwy"
)
# House number, 1–5 capitalised words, a suffix, an optional unit (`# 4`, `Apt 5B`, `Suite 400`).
_ADDRESS = re.compile(
    _starts("[0-9]", r"[\w.,\]]")
    + r"[0-9]{0,5}[ \t]{1,3}"
    + r"(?:[A-Z][A-Za-z'.-]{0,24}[ \t]{1,3}){1,5}"
    + r"(?:" + _STREET_SUFFIX + r")\b\.?"
    + r"(?:,?[ \t]{0,3}(?:\#|Apt\b\.?|Suite\b|Ste\b\.?|Unit\b)"
    + r"[ \t]{0,3}[0-9A-Za-z][0-9A-Za-z-]{0,5})?"
    + r"(?![\w\[])"
)

# --- IP addresses -------------------------------------------------------------------------------

# A dotted quad that is part of a longer dotted run (`1.1.1.1.1`) is not an address; each part
# is checked against 255 in `_ipv4`.
_IPV4 = re.compile(
    _starts("[0-9]", r"[\w.\]]") + r"[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?![\w\[])(?!\.[0-9])"
)


def _ipv4(match: re.Match[str]) -> str:
    text = match.group()
    if all(int(part) <= 255 for part in text.split(".")):
        return IP_TOKEN
    return text


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|0?[0-9]?[0-9])"
_IPV4_BODY = _OCTET + r"(?:\." + _OCTET + r"){3}"
_H = r"[0-9A-Fa-f]{1,4}"
# Full form, every compressed form (each needs a `::` with a group on at least one side, so a bare
# `::`, `std::vector` and a time like 12:30:45 never match), and IPv4-mapped tails. Its branches
# begin differently, so it keeps a leading lookbehind; it only runs on strings with a `::` or a
# full eight-group address.
_IPV6 = re.compile(
    rf"""
    (?<![\w:.\]])
    (?:
        (?:{_H}:){{6}}{_IPV4_BODY}
      | ::(?:[Ff]{{4}}(?::0{{1,4}})?:)?{_IPV4_BODY}
      | (?:{_H}:){{1,4}}:{_IPV4_BODY}
      | (?:{_H}:){{7}}{_H}
      | (?:{_H}:){{1,7}}:
      | (?:{_H}:){{1,6}}:{_H}
      | (?:{_H}:){{1,5}}(?::{_H}){{1,2}}
      | (?:{_H}:){{1,4}}(?::{_H}){{1,3}}
      | (?:{_H}:){{1,3}}(?::{_H}){{1,4}}
      | (?:{_H}:){{1,2}}(?::{_H}){{1,5}}
      | {_H}:(?::{_H}){{1,6}}
      | :(?::{_H}){{1,7}}
    )
    (?![\w:\[])(?!\.[0-9])
    """,
    re.VERBOSE,
)

# Times (12:30:45) have colons too; only a `::` or eight colon-separated groups warrant the above.
_IPV6_FULL_HINT = re.compile(r":[0-9A-Fa-f]{1,4}" * 6 + ":")


def _ipv6(match: re.Match[str]) -> str:
    # All-letter hex around `::` is far likelier a scoped name (`dead::beef`, `Abc::Def`) than an
    # address; real addresses carry a digit.
    text = match.group()
    if any(c.isdigit() for c in text):
        return IP_TOKEN
    return text


# --- driver -------------------------------------------------------------------------------------

# Passes run until nothing changes, which makes redaction idempotent: rarely a token frees a
# neighbour that its original text had blocked (`123-45-6789-1::`: the SSN is only seen once the
# IPv6 `1::` is gone; about 1 fuzzed string in 10,000). Tokens are never matched, so every
# changing pass removes original text; the cap only keeps the cost linear.
_MAX_PASSES = 4


def _redact_pass(text: str) -> str:
    # Secrets run first, against the SPEC's listed order: their bodies hold digits and hex that the
    # card, SSN, phone and IP rules could carve a piece out of, leaving the rest of the key in clear
    # and no longer recognisable as a key. Their prefixes are unambiguous, so running them first
    # cannot hide any other kind.
    text = _PREFIXED_SECRET.sub(SECRET_TOKEN, text)
    if "earer" in text or "EARER" in text:
        text = _BEARER.sub(_bearer_token, text)
    if "@" in text:
        text = _EMAIL.sub(EMAIL_TOKEN, text)
    if _NUMBER_RUN.search(text):
        text = _CARD.sub(_card, text)
        text = _SSN.sub(SSN_TOKEN, text)
        text = _PHONE.sub(PHONE_TOKEN, text)
    if " " in text or "\t" in text:
        text = _ADDRESS.sub(ADDRESS_TOKEN, text)
    if "::" in text or _IPV6_FULL_HINT.search(text):
        text = _IPV6.sub(_ipv6, text)
    if text.count(".") >= 3:
        text = _IPV4.sub(_ipv4, text)
    return text


_DROP_DIGITS = str.maketrans("", "", "0123456789")
_HINT = re.compile(r"[@:]|earer|EARER|yav_|yat_|eyJ|sk-|ghp_")
_SUFFIX_WORD = re.compile(r"\b(?:" + _STREET_SUFFIX + r")\b")


def _may_hold_pii(text: str) -> bool:
    """False only for text no pattern can match (most strings: names, short sentences), which
    then skips the patterns. Each test is something a kind needs: an email its `@`, an IPv6
    address a colon, a secret its prefix, a card, SSN, phone or IPv4 address at least 4
    digits, a street address a digit and a street suffix."""
    if _HINT.search(text):
        return True
    digits = len(text) - len(text.translate(_DROP_DIGITS))
    return digits >= 4 or (digits > 0 and _SUFFIX_WORD.search(text) is not None)


def redact_text(text: str) -> str:
    """Return `text` with every PII match replaced by its token; `text` itself if nothing matched.

    Idempotent: `redact_text(redact_text(s)) == redact_text(s)`.
    """
    if not _may_hold_pii(text):
        return text
    current = text
    for _ in range(_MAX_PASSES):
        redacted = _redact_pass(current)
        if redacted == current:
            break
        current = redacted
    return text if current == text else current


_CONTAINERS = (dict, list, tuple)


def redact(value: Any) -> Any:
    """Return a redacted copy of a JSON-like value, never mutating it.

    Strings are redacted at any depth of dicts, lists and tuples; dict keys, numbers, booleans,
    None and other objects are returned unchanged. Any part holding no PII is returned as the same
    object (not copied), and so is `value` itself when nothing was redacted. A container that
    contains itself is cut with the string "[Circular]" rather than looping.
    """
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, _CONTAINERS):
        return _redact_container(value)
    return value


def _entries(container: dict | list | tuple) -> Any:
    return iter(container.items()) if isinstance(container, dict) else enumerate(container)


def _rebuild(container: Any, changed: dict[Any, Any] | None) -> Any:
    if not changed:
        return container
    if isinstance(container, dict):
        copy: Any = dict(container)
        copy.update(changed)
        return copy
    items = list(container)
    for index, item in changed.items():
        items[index] = item
    return items if isinstance(container, list) else tuple(items)


def _redact_container(root: dict | list | tuple) -> Any:
    # An explicit stack instead of recursion: a 51 KB event can nest thousands deep, and analytics
    # must never raise RecursionError into the host or the ingest.
    # Frame: [container, entry iterator, {key: replacement} or None, key of the child being visited]
    stack: list[list[Any]] = [[root, _entries(root), None, None]]
    on_path = {id(root)}
    while True:
        frame = stack[-1]
        for key, child in frame[1]:
            if isinstance(child, str):
                replacement = redact_text(child)
            elif isinstance(child, _CONTAINERS):
                if id(child) in on_path:
                    replacement = "[Circular]"
                else:
                    frame[3] = key
                    stack.append([child, _entries(child), None, None])
                    on_path.add(id(child))
                    break
            else:
                continue
            if replacement is not child:
                if frame[2] is None:
                    frame[2] = {}
                frame[2][key] = replacement
        else:
            stack.pop()
            on_path.discard(id(frame[0]))
            result = _rebuild(frame[0], frame[2])
            if not stack:
                return result
            parent = stack[-1]
            if result is not frame[0]:
                if parent[2] is None:
                    parent[2] = {}
                parent[2][parent[3]] = result
