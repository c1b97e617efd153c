"""The server's requests to the client (sampling, elicitation), seen where every MCP Python
framework sends them: `ServerSession.send_request(request, result_type, ...)`, in mcp 1.x and
2.x alike (fastmcp sends through mcp's).

The class's method is wrapped once, because mcp 2.x builds a session object per request (a
wrapper per object would cost every call). The wrapper records only inside a tool call of an
instrumented server (`active_tool_call`), into that call's trace; anything else, an
uninstrumented server's requests included, passes straight through.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from yavio_sdk.recorder import Recorder, active_tool_call
from yavio_sdk.tool_calls import field

__all__ = ["observe_outbound"]

_SAMPLING = "sampling/createMessage"
_ELICITATION = "elicitation/create"
_OBSERVED = "_yavio_observed"


def observe_outbound(session_class: type) -> None:
    """Record the `sampling_call` and `elicitation` events of tool calls sent through
    `session_class.send_request`. Idempotent."""
    if vars(session_class).get(_OBSERVED):
        return
    send = session_class.send_request  # type: ignore[attr-defined]

    async def send_request(self: Any, request: Any, result_type: Any, *args: Any,
                           **kwargs: Any) -> Any:
        call = active_tool_call()
        if call is None:
            return await send(self, request, result_type, *args, **kwargs)
        return await _observed(call.recorder, call.session_id,
                               lambda: send(self, request, result_type, *args, **kwargs),
                               request)

    session_class.send_request = send_request  # type: ignore[attr-defined]
    setattr(session_class, _OBSERVED, True)


async def _observed(recorder: Recorder, session_id: str, send: Callable[[], Awaitable[Any]],
                    request: Any) -> Any:
    inner = getattr(request, "root", request)  # mcp 1.x wraps requests in a RootModel
    method = getattr(inner, "method", None)
    if method not in (_SAMPLING, _ELICITATION):
        return await send()
    params = getattr(inner, "params", None)
    started = time.perf_counter()
    try:
        result = await send()
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
