"""API keys and access tokens: how they are made, stored and shown.

A raw key or token is returned once and never stored: the stores keep HMAC-SHA256(value, server
secret), so a leaked database alone does not let anyone ingest or read. Lists show the first
12 characters only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

API_KEY_PREFIX = "yav_"
ACCESS_TOKEN_PREFIX = "yat_"
INVITATION_PREFIX = "yvi_"
DISPLAY_PREFIX_CHARS = 12


def new_api_key() -> str:
    """`yav_` + 64 lowercase hex characters (32 random bytes)."""
    return API_KEY_PREFIX + secrets.token_hex(32)


def new_access_token() -> str:
    """`yat_` + 64 lowercase hex characters (32 random bytes)."""
    return ACCESS_TOKEN_PREFIX + secrets.token_hex(32)


def new_invitation_token() -> str:
    """`yvi_` + 64 lowercase hex characters (32 random bytes)."""
    return INVITATION_PREFIX + secrets.token_hex(32)


def credential_hash(value: str, server_secret: str) -> str:
    """The stored form of a key, token or invitation: hex HMAC-SHA256 under the server secret."""
    return hmac.new(server_secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def display_prefix(value: str) -> str:
    """What lists show of a key or token: enough to recognise it, too little to use it."""
    return value[:DISPLAY_PREFIX_CHARS]
