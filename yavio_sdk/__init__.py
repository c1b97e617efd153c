"""Yavio SDK: product analytics for MCP servers.

    from yavio_sdk import with_yavio, yavio

`with_yavio(server)` instruments an MCP server; `yavio.step/track/conversion/identify` record
explicit events from inside a tool handler (also as `ctx.yavio` on the framework's Context).
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "with_yavio", "yavio"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: the server and the CLI import only the contract (events, PII,
    # config) and need not pay for the instrumentation of every MCP framework.
    if name == "with_yavio":
        from yavio_sdk.instrumentation import with_yavio
        return with_yavio
    if name == "yavio":
        from yavio_sdk.tracking import yavio
        return yavio
    raise AttributeError(f"module 'yavio_sdk' has no attribute {name!r}")
