"""The shared PII vectors (tests/pii_vectors.json): the Python redaction and the widget's
TypeScript port (widget-js/test/pii.test.ts) must give the same answer on every case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from yavio_sdk.pii import redact

_VECTORS = json.loads((Path(__file__).parent.parent / "pii_vectors.json").read_text("utf-8"))


@pytest.mark.parametrize("vector", _VECTORS, ids=[vector["name"] for vector in _VECTORS])
def test_python_redaction_matches_the_shared_vector(vector: dict[str, Any]) -> None:
    assert redact(vector["input"]) == vector["expected"]


def test_the_shared_vectors_have_unique_names_and_cover_every_token() -> None:
    names = [vector["name"] for vector in _VECTORS]
    assert len(names) == len(set(names))
    expected = json.dumps([vector["expected"] for vector in _VECTORS])
    for token in ("EMAIL", "CC", "SSN", "PHONE", "ADDRESS", "IP", "SECRET"):
        assert f"[{token}_REDACTED]" in expected
