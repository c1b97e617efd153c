"""The server's requests to the client (sampling, elicitation), seen where every MCP Python
framework sends them: `ServerSession.send_request(request, result_type, ...)`, in mcp 1.x and
2.x alike (fastmcp sends through mcp's). Wrapping is per session object, never the class, so an
uninstrumented server in the same process is untouched.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from yavio_sdk.recorder import Recorder
from yavio_sdk.tool_calls import field

__all__ = ["watch_outbound"]

_SAMPLING = "sampling/createMessage"
_ELICITATION = "elicitation/create"
_WATCHED = "_yavio_watched"


def watch_outbound(session: Any, recorder: Recorder, session_id: str) -> None:
    """Record the `sampling_call` and `elicitation` events of requests sent through `session`."""
    if getattr(session, _WATCHED, False):
        return
    send = session.send_request

    async def send_request(request: Any, result_type: Any, *args: Any, **kwargs: Any) -> Any:
        return await _observed(recorder, session_id, send, request, result_type, args, kwargs)

    try:
        session.send_request = send_request
        setattr(session, _WATCHED, True)
    except (AttributeError, TypeError):  # a session class that refuses attributes: not observed
        pass


async def _observed(
    recorder: Recorder, session_id: str, send: Callable[..., Awaitable[Any]], request: Any,
    result_type: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
) -> Any:
    inner = getattr(request, "root", request)  # mcp 1.x wraps requests in a RootModel
    method = getattr(inner, "method", None)
    if method not in (_SAMPLING, _ELICITATION):
        return await send(request, result_type, *args, **kwargs)
    params = getattr(inner, "params", None)
    started = time.perf_counter()
    try:
        result = await send(request, result_type, *args, **kwargs)
    except BaseException:
        _record(recorder, session_id, method, params, None, started)
        raise
    _record(recorder, session_id, method, params, result, started)
    return result


def _record(
    recorder: Recorder, session_id: str, method: str, params: Any, result: Any, started: float,
) -> None:
    latency_ms = (time.perf_counter() - started) * 1000.0
    if method == _SAMPLING:
        messages = getattr(params, "messages", None) or ()
        recorder.sampling_answered(
            session_id, latency_ms=latency_ms, ok=result is not None,
            model=getattr(result, "model", None),
            prompt=[getattr(message, "content", None) for message in messages],
            answer=getattr(result, "content", None))
    else:
        schema = field(params, "requestedSchema")
        properties = schema.get("properties") if isinstance(schema, dict) else None
        action = getattr(result, "action", None)
        recorder.elicitation_answered(
            session_id, latency_ms=latency_ms, action=action if isinstance(action, str) else None,
            field_names=list(properties) if isinstance(properties, dict) else ())
