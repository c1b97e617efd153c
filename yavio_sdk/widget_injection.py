"""The opt-in `window.__YAVIO__` injection (SPEC 4, "Widget responses"; `with_yavio(server,
inject_widget_config=True)`): a widget HTML resource read through the server gets a script
that hands the widget hook its config, for hosts that do not pass a tool result's `_meta` on
to the widget.

The config is the session's latest widget tool call's (its trace, token and step sequence), or,
before any widget call in the session, a new trace's: the widget's events then still land in
the session, under a trace of their own.
"""

from __future__ import annotations

import json
import re
from typing import Any

from yavio_sdk.recorder import Recorder
from yavio_sdk.tool_calls import field

__all__ = ["inject_config", "inject_into_contents", "is_html"]

_HEAD = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)


def is_html(mime_type: Any) -> bool:
    """`text/html` with any profile (ChatGPT's `text/html+skybridge`, MCP Apps'
    `text/html;profile=mcp-app`)."""
    return isinstance(mime_type, str) and mime_type.lower().startswith("text/html")


def inject_config(html: str, config: dict[str, Any]) -> str:
    """`html` with `<script>window.__YAVIO__ = {...}</script>` as the first thing in its
    `<head>` (or at the very start), before any script that may read it. The JSON is escaped so
    no value can close the script element."""
    payload = json.dumps(config, separators=(",", ":")).replace("<", "\\u003c")
    script = f"<script>window.__YAVIO__ = {payload};</script>"
    head = _HEAD.search(html)
    if head is None:
        return script + html
    return html[:head.end()] + script + html[head.end():]


async def inject_into_contents(recorder: Recorder, session_id: str, contents: list[Any]) -> None:
    """Inject the session's widget config into each HTML text item of a `resources/read`
    answer (wire dicts or SDK models, changed in place). Without a token nothing changes."""
    html = [(item, name) for item in contents for name in ("text", "content")
            if is_html(field(item, "mimeType")) and isinstance(field(item, name), str)]
    if not html:
        return
    config = await recorder.widget_config(session_id)
    if config is None:
        return
    for item, name in html:  # `content`: fastmcp's ResourceContent
        text = inject_config(field(item, name), config)
        if isinstance(item, dict):
            item[name] = text
        else:
            setattr(item, name, text)
