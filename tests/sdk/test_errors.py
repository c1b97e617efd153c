"""The error-code table holds every code the SPEC names, with the SPEC's HTTP status."""

from __future__ import annotations

import re

from yavio_sdk.errors import CODES, error_code

# SPEC section 1: the ingest codes and their statuses.
SPEC_INGEST_CODES = {
    "YAVIO-2000": 401, "YAVIO-2001": 401, "YAVIO-2004": 401, "YAVIO-2006": 401,
    "YAVIO-2050": 429, "YAVIO-2052": 429, "YAVIO-2053": 429, "YAVIO-2054": 429,
    "YAVIO-2100": 400, "YAVIO-2109": 400, "YAVIO-2110": 400, "YAVIO-2111": 413,
    "YAVIO-2112": 400, "YAVIO-2113": 400, "YAVIO-2114": 415, "YAVIO-2300": 400,
    "YAVIO-2301": 400, "YAVIO-2302": 401, "YAVIO-2402": 503,
}


def test_every_ingest_code_of_the_spec_exists_with_its_status() -> None:
    assert {code: error_code(code).status for code in SPEC_INGEST_CODES} == SPEC_INGEST_CODES


def test_codes_are_well_formed_and_each_has_a_message() -> None:
    for code, entry in CODES.items():
        assert re.fullmatch(r"YAVIO-[1-7]\d{3}", code)
        assert entry.code == code and entry.message.strip()
        assert 400 <= entry.status <= 599
