"""A user's own MCP server before Yavio, and the README's "Instrument your own server" lines
applied to it as a user would: for the test of that path and for bench/quickstart.py, which
times it from a clean clone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CALLS", "FRESH_SERVER", "SECTION", "Instructions", "instrument", "read_instructions"]

SECTION = "## Instrument your own server"

# What a user starts from: mcp 2.x's quick start, nothing of Yavio in it. Run as
# `python server.py` (stdio); the tools are called in this order and return at once.
FRESH_SERVER = '''\
from mcp.server import MCPServer

mcp = MCPServer("my-server")


@mcp.tool()
def roll_dice(sides: int) -> int:
    """Roll a die with this many sides."""
    return sides


@mcp.tool()
def flip_coin() -> str:
    """Flip a coin."""
    return "heads"


if __name__ == "__main__":
    mcp.run()
'''
CALLS = (("roll_dice", {"sides": 6}), ("flip_coin", {}))


@dataclass(frozen=True)
class Instructions:
    """The section's code blocks: shell commands and Python lines (blank lines left out)."""

    commands: list[str]
    python: list[str]


def read_instructions(readme: Path) -> Instructions:
    text = readme.read_text()
    if SECTION not in text:
        raise ValueError(f"{readme} has no {SECTION!r} section")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, list[str]] = {"sh": [], "python": []}
    for language, body in re.findall(r"```(\w+)\n(.*?)```", section, re.S):
        blocks.setdefault(language, []).extend(line for line in body.splitlines() if line.strip())
    return Instructions(commands=blocks["sh"], python=blocks["python"])


def _is_import(line: str) -> bool:
    return line.startswith(("import ", "from "))


def _assigned(line: str) -> str | None:
    return line.split("=", 1)[0].strip() if "=" in line and not _is_import(line) else None


def instrument(fresh: str, lines: list[str]) -> str:
    """`fresh` with the README's lines applied as a user would: a line the file has is left
    alone, an import goes after the file's imports, any other line replaces the file's line
    that assigns the same name (`mcp = ...`)."""
    source = fresh.splitlines()
    for line in lines:
        if line in source:
            continue
        if _is_import(line):
            last_import = max(i for i, old in enumerate(source) if _is_import(old))
            source.insert(last_import + 1, line)
            continue
        assigning = [i for i, old in enumerate(source)
                     if _assigned(line) is not None and _assigned(old) == _assigned(line)]
        if len(assigning) != 1:
            raise ValueError(f"no single line of the server for {line!r} to replace")
        source[assigning[0]] = line
    return "\n".join(source) + "\n"
