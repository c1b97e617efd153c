"""Who is sending: API keys (server SDKs) and widget tokens (browser widgets).

API keys are looked up by their HMAC in Postgres and cached, unknown keys included, for at most
`key_cache_ttl_s`, so a flood of bad keys never reaches the database and a revocation takes effect
within that TTL. While Postgres cannot be asked, a key seen before keeps the answer it last got,
however old, and a key never seen gets 503 `YAVIO-5001` with `Retry-After`: not a 401, which
would make an SDK stop sending for good. After a failed lookup Postgres is left alone for
`STORE_DOWN_S`, so requests do not each wait for a lookup that fails. Widget tokens are HS256
JWTs minted by this server for one trace and session; verifying one needs no database at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import jwt
import psycopg

from yavio_ingest.credentials import API_KEY_PREFIX, credential_hash
from yavio_ingest.responses import Reject
from yavio_ingest.store.postgres import KeyOwner, PostgresStore

log = logging.getLogger("yavio.ingest.auth")

WIDGET_TOKEN_LIFETIME_S = 900
_JWT_CLAIMS = ("pid", "wid", "tid", "sid", "iat", "exp")
# last_used_at is bookkeeping for `yavio keys list`: once a minute per key is plenty.
_LAST_USED_EVERY_S = 60
# A Postgres restart takes a few seconds; an SDK honours Retry-After for each of its 5 retries.
STORE_DOWN_S = 5


@dataclass(frozen=True)
class Credential:
    """A verified caller: the tenant its events belong to, and for widgets the token's scope."""
    workspace_id: str
    project_id: str
    key_id: str | None = None  # API keys
    session_id: str | None = None  # widget tokens: every event must carry this session
    trace_id: str | None = None
    token_id: str | None = None  # widget tokens: the rate-limit key

    @property
    def is_widget(self) -> bool:
        return self.session_id is not None


class AuthError(Exception):
    """Authentication failed; `code` is the YAVIO code to answer with."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class Authenticator:
    def __init__(self, store: PostgresStore, hmac_secret: str, jwt_secret: str,
                 key_cache_ttl_s: float = 60.0):
        self.store = store
        self.hmac_secret = hmac_secret
        self.jwt_secret = jwt_secret
        self.key_cache_ttl_s = key_cache_ttl_s
        self._keys: dict[str, tuple[KeyOwner | None, float]] = {}
        self._last_used: dict[str, float] = {}
        self._store_down_until = 0.0

    async def api_key(self, raw: str) -> Credential:
        """The project of a `yav_…` key, or AuthError YAVIO-2001 if it is unknown or revoked;
        Reject YAVIO-5001 (503) if Postgres cannot say and the key was never seen."""
        now = time.monotonic()
        # Keyed by the raw key, which this process holds anyway: an HMAC per request costs more
        # than the rest of the lookup.
        cached = self._keys.get(raw)
        store_down = now < self._store_down_until
        # With Postgres down a key's last answer stands, however old. (Revoking needs Postgres
        # too; a revocation made elsewhere just before the outage waits for its end.)
        if cached is not None and (cached[1] > now or store_down):
            owner = cached[0]
        elif store_down:
            raise Reject("YAVIO-5001", retry_after=STORE_DOWN_S)
        else:
            try:
                owner = await asyncio.get_running_loop().run_in_executor(
                    None, self.store.api_keys.owner_of_hash,
                    credential_hash(raw, self.hmac_secret))
            except psycopg.Error as error:
                log.warning("API key lookups fail, keys seen before keep working: %s", error)
                self._store_down_until = time.monotonic() + STORE_DOWN_S
                if cached is None:
                    raise Reject("YAVIO-5001", retry_after=STORE_DOWN_S) from None
                owner = cached[0]
            else:
                if len(self._keys) > 100_000:  # a flood of random keys must not grow memory
                    self._keys.clear()
                self._keys[raw] = (owner, now + self.key_cache_ttl_s)
        if owner is None:
            raise AuthError("YAVIO-2001")
        self._note_used(str(owner.key_id), now)
        return Credential(str(owner.workspace_id), str(owner.project_id), key_id=str(owner.key_id))

    def forget(self, *, key_id: str | None = None, project_id: str | None = None,
               workspace_id: str | None = None) -> None:
        """Drop the cached keys of a revoked key, or of a deleted project or workspace: this
        process refuses them at once (other replicas within the cache TTL), so no event lands
        in a project after it was deleted."""
        for raw, (owner, _) in list(self._keys.items()):
            if owner is not None and (str(owner.key_id) == key_id
                                      or str(owner.project_id) == project_id
                                      or str(owner.workspace_id) == workspace_id):
                self._keys.pop(raw, None)

    def widget_token(self, token: str) -> Credential:
        """The scope of a widget JWT, or AuthError YAVIO-2004 if bad, expired or tampered."""
        try:
            claims = jwt.decode(token, self.jwt_secret, algorithms=["HS256"],
                                options={"require": list(_JWT_CLAIMS)})
        except jwt.PyJWTError as error:
            raise AuthError("YAVIO-2004") from error
        if not all(isinstance(claims[c], str) and claims[c] for c in ("pid", "wid", "tid", "sid")):
            raise AuthError("YAVIO-2004")
        return Credential(claims["wid"], claims["pid"], session_id=claims["sid"],
                          trace_id=claims["tid"], token_id=f"{claims['sid']}:{claims['iat']}")

    def mint_widget_token(self, caller: Credential, trace_id: str,
                          session_id: str) -> tuple[str, int]:
        """A widget JWT for one trace and session of the caller's project, and its expiry."""
        now = int(time.time())
        expires = now + WIDGET_TOKEN_LIFETIME_S
        claims: dict[str, Any] = {"pid": caller.project_id, "wid": caller.workspace_id,
                                  "tid": trace_id, "sid": session_id, "iat": now, "exp": expires}
        return jwt.encode(claims, self.jwt_secret, algorithm="HS256"), expires

    def _note_used(self, key_id: str, now: float) -> None:
        if now - self._last_used.get(key_id, -_LAST_USED_EVERY_S) < _LAST_USED_EVERY_S or \
                now < self._store_down_until:  # an update would hold a thread for nothing
            return
        self._last_used[key_id] = now
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self.store.api_keys.touch, key_id)
        future.add_done_callback(_log_failure)


def _log_failure(future: asyncio.Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("could not record a key's last use: %s", future.exception())


def looks_like_api_key(token: str) -> bool:
    return token.startswith(API_KEY_PREFIX)
