"""Which integration instruments a server: one module per framework, chosen by the server's
type and imported only then (no framework is imported to find out; the SDK depends on none).

    framework                       server types                     module
    mcp 1.x (official SDK)          FastMCP, low-level Server        mcp_v1
    mcp 2.x (official SDK)          MCPServer, low-level Server      mcp_v2
    fastmcp 4.x (standalone)        FastMCP                          fastmcp

fastmcp's FastMCP is checked first: it keeps an mcp low-level Server inside it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["Integration", "UnsupportedServer", "find_integration"]


class UnsupportedServer(Exception):
    """The server's framework or its version is not one Yavio instruments; says which."""


class Integration(NamedTuple):
    name: str
    instrument: Callable[[Any, Any], None]  # (server, recorder)
    install_context: Callable[[], None]  # `ctx.yavio` on the framework's Context


_CLASSES = {
    ("fastmcp.server.server", "FastMCP"): "fastmcp",
    ("mcp.server.mcpserver.server", "MCPServer"): "mcp",
    ("mcp.server.fastmcp.server", "FastMCP"): "mcp",
    ("mcp.server.lowlevel.server", "Server"): "mcp",
}
# Major version of the distribution → module, and the versions named in the error.
_MODULES = {
    "fastmcp": ({4: "fastmcp"}, "fastmcp 4.x"),
    "mcp": ({1: "mcp_v1", 2: "mcp_v2"}, "mcp 1.x or 2.x"),
}


def _framework(server: Any) -> str | None:
    for cls in type(server).__mro__:
        framework = _CLASSES.get((cls.__module__, cls.__name__))
        if framework is not None:
            return framework
    return None


def find_integration(server: Any) -> Integration:
    """The integration for `server`; raises `UnsupportedServer` saying what is supported."""
    framework = _framework(server)
    if framework is None:
        raise UnsupportedServer(
            f"with_yavio() does not know {type(server).__module__}.{type(server).__name__}: "
            "pass an mcp FastMCP/MCPServer/Server or a fastmcp FastMCP")
    modules, supported = _MODULES[framework]
    version = importlib.metadata.version(framework)
    try:
        major = int(version.split(".", 1)[0])
    except ValueError:
        major = -1
    module_name = modules.get(major)
    if module_name is None:
        raise UnsupportedServer(f"{framework} {version} is not supported (Yavio instruments "
                                f"{supported})")
    module = importlib.import_module(f"yavio_sdk.integrations.{module_name}")
    return Integration(f"{framework} {version}", module.instrument, module.install_context)
