"""The booking test server over stdio, for tests that run it as a client would: a subprocess.

    python -m tests.sdk.frameworks.stdio_server mcp_v2    # YAVIO_* from the environment
"""

from __future__ import annotations

import sys

from tests.sdk.frameworks import adapter

if __name__ == "__main__":
    framework = adapter(sys.argv[1])
    # No options: with_yavio reads YAVIO_API_KEY and YAVIO_ENDPOINT from the environment.
    framework.run_stdio(framework.build_server(api_key=None))
