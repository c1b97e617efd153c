"""Yavio SDK: product analytics for MCP servers.

    from yavio_sdk import with_yavio, yavio

`with_yavio(server)` instruments an MCP server; `yavio.step/track/conversion/identify` record
explicit events from inside a tool handler (also as `ctx.yavio` on the framework's Context).
"""

__version__ = "0.1.0"

from yavio_sdk.instrumentation import with_yavio  # noqa: E402  (the version comes first)
from yavio_sdk.tracking import yavio  # noqa: E402

__all__ = ["__version__", "with_yavio", "yavio"]
