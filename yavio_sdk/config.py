"""The SDK's settings and where they come from (SPEC 4, "Config").

Each setting is taken from the first source that gives a valid value for it:

1. code: `with_yavio(server, api_key=..., capture_geo=False)`; the capture switches may also be
   given as a mapping, `capture={"geo": False}` (camelCase keys too), which a `capture_*`
   option overrides;
2. the environment;
3. the nearest `.yaviorc.json`, looking in the current directory, then its parent, and so on up
   to the root (camelCase keys, as the TypeScript SDK's file has them, or snake_case);
4. the default.

A value that is absent, None or an empty string gives nothing, and so does an invalid one, which
also logs a warning naming where it came from (never the value: it may be the key). Booleans
accept `1/true/yes/on` and `0/false/no/off` in any case (and JSON booleans in the file).

    setting                environment                  .yaviorc.json         default
    api_key                YAVIO_API_KEY                apiKey                none: SDK off
    endpoint               YAVIO_ENDPOINT               endpoint              http://127.0.0.1:3001
    server_only            YAVIO_SERVER_ONLY            serverOnly            false
    intent                 YAVIO_INTENT                 intent                false
    intent_required        YAVIO_INTENT_REQUIRED        intentRequired        true
    capture_input_values   YAVIO_CAPTURE_INPUT_VALUES   capture.inputValues   true
    capture_output_values  YAVIO_CAPTURE_OUTPUT_VALUES  capture.outputValues  true
    capture_geo            YAVIO_CAPTURE_GEO            capture.geo           true
    capture_tokens         YAVIO_CAPTURE_TOKENS         capture.tokens        true
    capture_retries        YAVIO_CAPTURE_RETRIES        capture.retries       true
    flush_interval         YAVIO_FLUSH_INTERVAL         flushInterval         10.0 (seconds, > 0)
    batch_size             YAVIO_BATCH_SIZE             batchSize             100 (1..1000)
    queue_size             YAVIO_QUEUE_SIZE             queueSize             10000 (events)
    debug                  YAVIO_DEBUG                  debug                 false

`endpoint` is the server's base URL; one ending in `/v1/events`, as the TypeScript SDK's file
holds it, is accepted and trimmed. A malformed `.yaviorc.json` is ignored with one warning:
resolving the config never raises.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from yavio_sdk.events import MAX_EVENTS_PER_BATCH

__all__ = ["DEFAULT_ENDPOINT", "RC_FILENAME", "YavioConfig", "resolve_config"]

DEFAULT_ENDPOINT = "http://127.0.0.1:3001"
RC_FILENAME = ".yaviorc.json"

logger = logging.getLogger("yavio")


@dataclass(frozen=True, slots=True, repr=False)
class YavioConfig:
    """The resolved settings; see the module docstring for each one's sources and default.

    Its repr never shows the API key, only whether there is one.
    """

    api_key: str | None = None
    endpoint: str = DEFAULT_ENDPOINT
    server_only: bool = False
    intent: bool = False
    intent_required: bool = True
    capture_input_values: bool = True
    capture_output_values: bool = True
    capture_geo: bool = True
    capture_tokens: bool = True
    capture_retries: bool = True
    flush_interval: float = 10.0
    batch_size: int = 100
    queue_size: int = 10_000
    debug: bool = False
    rc_file: str | None = None
    """The `.yaviorc.json` that was read, if any: for the "where did this come from" question."""

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            shown.append(f"{f.name}=<redacted>" if f.name == "api_key" and value is not None
                         else f"{f.name}={value!r}")
        return f"YavioConfig({', '.join(shown)})"

    @property
    def enabled(self) -> bool:
        """Whether the SDK has an API key; without one it does nothing at all."""
        return self.api_key is not None

    @property
    def events_url(self) -> str:
        return self.endpoint + "/v1/events"

    @property
    def widget_tokens_url(self) -> str:
        return self.endpoint + "/v1/widget-tokens"


class _Invalid(Exception):
    """A value a parser refuses; its message says what was expected."""


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise _Invalid("expected 1/true/yes/on or 0/false/no/off")


def _text(value: Any) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise _Invalid("expected a non-empty string")


def _endpoint(value: Any) -> str:
    url = _text(value).rstrip("/")
    if not url.lower().startswith(("http://", "https://")):
        raise _Invalid("expected an http:// or https:// URL")
    if url.endswith("/v1/events"):
        url = url[: -len("/v1/events")]
    return url


def _number(value: Any, kind: type) -> Any:
    if isinstance(value, bool):
        raise _Invalid("expected a number")
    try:
        number = kind(value.strip()) if isinstance(value, str) else kind(value)
    except (TypeError, ValueError, OverflowError):
        raise _Invalid("expected a number") from None
    if kind is int and not isinstance(value, (int, str)):
        raise _Invalid("expected a whole number")
    return number


def _seconds(value: Any) -> float:
    seconds = _number(value, float)
    if not (math.isfinite(seconds) and seconds > 0):
        raise _Invalid("expected a number of seconds above 0")
    return seconds


def _batch_size(value: Any) -> int:
    size = _number(value, int)
    if not 1 <= size <= MAX_EVENTS_PER_BATCH:
        raise _Invalid(f"expected a whole number from 1 to {MAX_EVENTS_PER_BATCH}")
    return size


def _positive_int(value: Any) -> int:
    size = _number(value, int)
    if size < 1:
        raise _Invalid("expected a whole number above 0")
    return size


class _Setting(NamedTuple):
    name: str
    env: str
    rc_paths: tuple[str, ...]  # dotted paths into the rc file, camelCase first
    parse: Callable[[Any], Any]


def _capture(name: str, camel: str) -> _Setting:
    return _Setting(f"capture_{name}", f"YAVIO_CAPTURE_{name.upper()}",
                    (f"capture.{camel}", f"capture.{name}"), _boolean)


_SETTINGS: tuple[_Setting, ...] = (
    _Setting("api_key", "YAVIO_API_KEY", ("apiKey", "api_key"), _text),
    _Setting("endpoint", "YAVIO_ENDPOINT", ("endpoint",), _endpoint),
    _Setting("server_only", "YAVIO_SERVER_ONLY", ("serverOnly", "server_only"), _boolean),
    _Setting("intent", "YAVIO_INTENT", ("intent",), _boolean),
    _Setting("intent_required", "YAVIO_INTENT_REQUIRED", ("intentRequired", "intent_required"),
             _boolean),
    _capture("input_values", "inputValues"),
    _capture("output_values", "outputValues"),
    _capture("geo", "geo"),
    _capture("tokens", "tokens"),
    _capture("retries", "retries"),
    _Setting("flush_interval", "YAVIO_FLUSH_INTERVAL", ("flushInterval", "flush_interval"),
             _seconds),
    _Setting("batch_size", "YAVIO_BATCH_SIZE", ("batchSize", "batch_size"), _batch_size),
    _Setting("queue_size", "YAVIO_QUEUE_SIZE", ("queueSize", "queue_size"), _positive_int),
    _Setting("debug", "YAVIO_DEBUG", ("debug",), _boolean),
)

_CODE_OPTIONS = frozenset(setting.name for setting in _SETTINGS) | {"capture"}


def _at(source: Mapping[str, Any], path: str) -> Any:
    value: Any = source
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def resolve_config(
    *,
    cwd: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **code_options: Any,
) -> YavioConfig:
    """The settings from code options, then `environ` (default `os.environ`), then the nearest
    `.yaviorc.json` above `cwd` (default the current directory), then the defaults.

    An unknown code option is ignored with a warning. Never raises.
    """
    unknown = sorted(set(code_options) - _CODE_OPTIONS)
    if unknown:
        logger.warning("yavio: ignoring unknown option(s): %s", ", ".join(unknown))
    if code_options.get("capture") is not None and not isinstance(code_options["capture"], Mapping):
        logger.warning("yavio: ignoring option capture: expected a mapping such as "
                       "{'geo': False}; or use capture_geo=False")
    environ = os.environ if environ is None else environ
    rc, rc_path = _read_rc(cwd)

    resolved: dict[str, Any] = {"rc_file": str(rc_path) if rc_path else None}
    for setting in _SETTINGS:
        capture_paths = tuple(path for path in setting.rc_paths if path.startswith("capture."))
        candidates = [
            *((f"option {path}", _at(code_options, path))
              for path in (setting.name, *capture_paths)),
            (setting.env, environ.get(setting.env)),
            *((f"{path} in {rc_path}", _at(rc, path)) for path in setting.rc_paths),
        ]
        for where, raw in candidates:
            if raw is None or raw == "":
                continue
            try:
                resolved[setting.name] = setting.parse(raw)
                break
            except _Invalid as problem:
                logger.warning("yavio: ignoring %s: %s", where, problem)
    return YavioConfig(**resolved)


def _read_rc(cwd: str | os.PathLike[str] | None) -> tuple[Mapping[str, Any], Path | None]:
    """The nearest rc file's contents and path; ({}, None) when there is none or it is unusable."""
    path = _find_rc(cwd)
    if path is None:
        return {}, None
    try:
        contents = msgspec.json.decode(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, msgspec.DecodeError) as problem:
        logger.warning("yavio: ignoring %s: cannot read it as JSON (%s)", path, problem)
        return {}, None
    if not isinstance(contents, dict):
        logger.warning("yavio: ignoring %s: expected a JSON object", path)
        return {}, None
    return contents, path


def _find_rc(cwd: str | os.PathLike[str] | None) -> Path | None:
    try:
        start = Path.cwd() if cwd is None else Path(cwd).absolute()
    except OSError:  # the current directory was deleted
        return None
    for directory in (start, *start.parents):
        candidate = directory / RC_FILENAME
        try:
            if candidate.is_file():
                return candidate
        except OSError:  # a directory we may not look into: keep walking up
            continue
    return None
