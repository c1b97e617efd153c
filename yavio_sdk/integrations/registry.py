"""What the official SDK's high-level servers (mcp 1.x `FastMCP`, mcp 2.x `MCPServer`, built
alike) have registered: their tools, for `tool_discovery` and the intent rules, and their
resource templates, to name a `resource_access` by template rather than by item. Low-level
servers have no registry; their integration learns tools from `tools/list` answers instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from yavio_sdk.recorder import ToolInfo, active_tool_call

__all__ = ["Registry"]


class Registry:
    """The registry of one high-level server."""

    def __init__(self, server: Any) -> None:
        self._tools = server._tool_manager
        self._resources = server._resource_manager

    def tools(self) -> list[ToolInfo]:
        return [_info(tool) for tool in self._tools.list_tools()]

    def tool(self, name: Any) -> ToolInfo | None:
        tool = self._tools.get_tool(name) if isinstance(name, str) else None
        return _info(tool) if tool is not None else None

    def template_of(self, uri: str) -> str | None:
        """The URI template `uri` matches, if any."""
        for template in list(self._resources._templates.values()):
            try:
                if template.matches(uri) is not None:
                    return str(template.uri_template)
            except Exception:
                continue
        return None

    def capture_raised(self) -> None:
        """Keep what a tool raised for the call's event: the server answers with `isError` and
        a message that hides or prefixes it, but its tool manager raises it (wrapped, the
        original as `__cause__`)."""
        call_tool: Callable[..., Any] = self._tools.call_tool

        async def call_tool_observed(*args: Any, **kwargs: Any) -> Any:
            try:
                return await call_tool(*args, **kwargs)
            except Exception as error:
                call = active_tool_call()
                if call is not None:
                    call.raised = error
                raise

        self._tools.call_tool = call_tool_observed


def _info(tool: Any) -> ToolInfo:
    return ToolInfo(tool.name, tool.description, tool.parameters, tool.meta)
