"""Events name the AI platform a session came from, by the SPEC's rules, on real clients' names."""

from __future__ import annotations

import pytest

from yavio_sdk.platform import PLATFORMS, detect_platform

# (what real clients send as `clientInfo.name` in initialize, platform): one row per SPEC rule.
CLIENT_NAMES = [
    ("openai-mcp", "chatgpt"),
    ("claude-code", "claude-code"),
    ("codex-mcp-client", "codex"),
    ("opencode", "opencode"),
    ("ChatGPT", "chatgpt"),
    ("OpenAI Agents SDK", "chatgpt"),
    ("claude-ai", "claude"),
    ("anthropic-mcp-connector", "claude"),
    ("cursor-vscode", "cursor"),
    ("gemini-cli-mcp-client", "gemini-cli"),
    ("Gemini", "gemini"),
    ("windsurf-client", "windsurf"),
    ("Codeium", "windsurf"),
    ("Cline", "cline"),
    ("Continue", "continue"),
    ("vscode-insiders", "vscode"),
    ("Visual Studio Code", "vscode"),
    ("Zed", "zed"),
]

USER_AGENTS = [
    ("openai-mcp/1.0.0", "chatgpt"),
    ("claude-code/1.0.51 (external, cli)", "claude-code"),
    ("codex_cli_rs/0.2.0 (Mac OS 14.5.0; arm64)", "codex"),
    ("opencode/0.3.58", "opencode"),
    ("Mozilla/5.0 (compatible; ChatGPT-User/1.0; +https://openai.com/bot)", "chatgpt"),
    ("Claude-User (claude-ai; +Claude-User@anthropic.com)", "claude"),
    ("Cursor/1.2.4 (darwin arm64)", "cursor"),
    ("GeminiCLI/0.1.9 gemini-cli (linux; x64)", "gemini-cli"),
    ("Google-Gemini/1.0", "gemini"),
    ("Windsurf/1.10.7", "windsurf"),
    ("Cline/3.17.8", "cline"),
    ("Continue/1.0.13 (vscode extension)", "continue"),
    ("Visual Studio Code/1.101.0", "vscode"),
    ("Zed/0.190.5 (macos; aarch64)", "zed"),
]

ORIGINS = [
    ("https://chatgpt.com", "chatgpt"),
    ("https://chat.openai.com", "chatgpt"),
    ("https://web-sandbox.oaiusercontent.com", "unknown"),
    ("https://openai.com", "chatgpt"),
    ("https://claude.ai", "claude"),
    ("https://www.claude.ai", "claude"),
    ("https://gemini.google.com", "gemini"),
    ("chatgpt.com", "chatgpt"),
    ("https://chatgpt.com:443", "chatgpt"),
    # Look-alikes must not count: the domain itself or a subdomain only.
    ("https://notchatgpt.com", "unknown"),
    ("https://chatgpt.com.attacker.example", "unknown"),
    ("https://google.com", "unknown"),
    ("null", "unknown"),
]


@pytest.mark.parametrize(("client_name", "platform"), CLIENT_NAMES)
def test_client_name_from_initialize_names_the_platform(client_name: str, platform: str) -> None:
    assert detect_platform(client_name=client_name) == platform


@pytest.mark.parametrize(("user_agent", "platform"), USER_AGENTS)
def test_user_agent_names_the_platform_when_the_client_name_is_missing(
    user_agent: str, platform: str,
) -> None:
    assert detect_platform(user_agent=user_agent) == platform


@pytest.mark.parametrize(("origin", "platform"), ORIGINS)
def test_origin_names_the_platform_when_nothing_else_does(origin: str, platform: str) -> None:
    assert detect_platform(origin=origin) == platform


def test_client_name_outranks_user_agent_and_user_agent_outranks_origin() -> None:
    assert detect_platform("cursor-vscode", "Cline/3.17.8", "https://claude.ai") == "cursor"
    assert detect_platform(None, "Cline/3.17.8", "https://claude.ai") == "cline"
    assert detect_platform("my-homegrown-client", "Cline/3.17.8") == "cline"
    assert detect_platform("homegrown", "python-httpx/0.28.1", "https://claude.ai") == "claude"


def test_openai_mcp_anywhere_means_chatgpt_even_if_the_client_name_says_otherwise() -> None:
    assert detect_platform("cursor-vscode", "openai-mcp/1.0.0") == "chatgpt"
    assert detect_platform("claude-code", None, "https://x.example/openai-mcp") == "chatgpt"


def test_specific_products_win_over_the_vendor_names_they_contain() -> None:
    assert detect_platform("claude-code") == "claude-code"  # contains "claude"
    assert detect_platform("openai-codex") == "codex"  # contains "openai"
    assert detect_platform("cursor-vscode") == "cursor"  # contains "vscode"
    assert detect_platform("gemini-cli") == "gemini-cli"  # contains "gemini"


@pytest.mark.parametrize("name", ["amazed-client", "zedge", "zed-industries-sync", "blazed/1.0"])
def test_zed_needs_the_whole_name_or_a_zed_slash_prefix(name: str) -> None:
    assert detect_platform(client_name=name) == "unknown"


@pytest.mark.parametrize("name", ["zed", "ZED", "zed/0.190.5"])
def test_zed_is_recognised_by_its_exact_name_or_user_agent(name: str) -> None:
    assert detect_platform(client_name=name) == "zed"


def test_matching_ignores_case() -> None:
    assert detect_platform("CLAUDE-CODE") == "claude-code"
    assert detect_platform(origin="HTTPS://ChatGPT.com") == "chatgpt"


@pytest.mark.parametrize("signals", [(), (None, None, None), ("", "", ""),
                                     ("mcp-inspector", "node", "http://localhost:6274")])
def test_no_recognisable_signal_is_unknown(signals: tuple) -> None:
    assert detect_platform(*signals) == "unknown"


def test_every_detected_platform_is_a_listed_one_that_fits_the_event_field() -> None:
    detected = {platform for _, platform in CLIENT_NAMES + USER_AGENTS + ORIGINS}
    assert detected <= set(PLATFORMS)
    assert set(PLATFORMS) - detected == set()
    assert all(len(platform) <= 64 for platform in PLATFORMS)
