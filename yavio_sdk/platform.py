"""Which AI platform a session comes from (SPEC 4, "Platform"), for the `platform` of every event.

Signals, most reliable first: the client name from MCP `initialize`, the User-Agent, the Origin.
`openai-mcp` in any of them means ChatGPT; otherwise the first signal that matches a rule decides.
Matching ignores case. The names returned are the original TypeScript SDK's, so dashboards built on
either agree: chatgpt, claude-code, codex, opencode, claude, cursor, gemini-cli, gemini, windsurf,
cline, continue, vscode, zed, unknown.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["PLATFORMS", "UNKNOWN", "detect_platform"]

UNKNOWN = "unknown"

# (substrings, platform) for a client name or User-Agent, first match wins. The order matters:
# "claude-code" contains "claude", Cursor calls itself "cursor-vscode", "gemini-cli" has "gemini".
_IDENTITY_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("claude-code",), "claude-code"),
    (("codex",), "codex"),
    (("opencode",), "opencode"),
    (("chatgpt", "openai"), "chatgpt"),
    (("claude", "anthropic"), "claude"),
    (("cursor",), "cursor"),
    (("gemini-cli",), "gemini-cli"),
    (("gemini",), "gemini"),
    (("windsurf", "codeium"), "windsurf"),
    (("cline",), "cline"),
    (("continue",), "continue"),
    (("vscode", "visual studio code"), "vscode"),
)

# (domain, platform) for an Origin: the domain itself or any subdomain of it.
_ORIGIN_RULES: tuple[tuple[str, str], ...] = (
    ("openai.com", "chatgpt"),
    ("chatgpt.com", "chatgpt"),
    ("claude.ai", "claude"),
    ("gemini.google.com", "gemini"),
)

PLATFORMS: tuple[str, ...] = (
    *dict.fromkeys(platform for _, platform in _IDENTITY_RULES), "zed", UNKNOWN,
)
"""Every value `detect_platform` can return."""


def detect_platform(
    client_name: str | None = None,
    user_agent: str | None = None,
    origin: str | None = None,
) -> str:
    """The platform named by the first signal that matches a rule, else "unknown"."""
    signals = [signal.lower() for signal in (client_name, user_agent, origin) if signal]
    if any("openai-mcp" in signal for signal in signals):
        return "chatgpt"
    for identity in (client_name, user_agent):
        if identity:
            platform = _identity_platform(identity.lower())
            if platform:
                return platform
    if origin:
        return _origin_platform(origin.lower())
    return UNKNOWN


def _identity_platform(identity: str) -> str | None:
    for needles, platform in _IDENTITY_RULES:
        if any(needle in identity for needle in needles):
            return platform
    # Too short to find inside other words ("zedge", "amazed"): the whole name or a "zed/1.2" UA.
    identity = identity.strip()
    if identity == "zed" or identity.startswith("zed/"):
        return "zed"
    return None


def _origin_platform(origin: str) -> str:
    origin = origin.strip()
    try:
        host = urlsplit(origin if "://" in origin else f"//{origin}").hostname or ""
    except ValueError:
        return UNKNOWN
    for domain, platform in _ORIGIN_RULES:
        if host == domain or host.endswith("." + domain):
            return platform
    return UNKNOWN
