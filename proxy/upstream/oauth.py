"""Google OAuth for Antigravity accounts (SPEC §6.1): token refresh (one at a time
per account), the consent URL and code exchange for login, and the email lookup."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

from proxy import jsoncodec
from proxy.accounts.model import Account
from proxy.errors import UpstreamError, UpstreamErrorKind
from proxy.upstream.hints import classify
from proxy.upstream.http import UpstreamSessions
from proxy.upstream.response import TRANSPORT_ERRORS

log = logging.getLogger(__name__)

AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
SCOPES = (
    "openid",
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
    "https://www.googleapis.com/auth/cclog",
    "https://www.googleapis.com/auth/experimentsandconfigs",
)
# Refresh when less than this much validity is left (SPEC §6.1).
REFRESH_MARGIN_S = 90.0
# The one wording of Google's `invalid_grant` for people (TUI, CLI, account state reason):
# its own "invalid_grant: Bad Request" says nothing to someone who pasted a token.
INVALID_GRANT_TEXT = "this refresh token is wrong, expired or revoked (Google answered invalid_grant)"


def invalid_grant(status: int, body: bytes = b"") -> UpstreamError:
    """Google refused the refresh token or the login code (`invalid_grant`)."""
    return UpstreamError(UpstreamErrorKind.INVALID_GRANT, status, INVALID_GRANT_TEXT, body=body)


@dataclass
class TokenGrant:
    access_token: str
    expires_at: float  # epoch seconds
    refresh_token: str = ""  # present on code exchange, sometimes rotated on refresh


class TokenSink(Protocol):
    """Where refreshed tokens are persisted (the AccountStore)."""

    def update_tokens(self, account: Account, access_token: str, token_expiry: float,
                      refresh_token: str | None = None, project_id: str | None = None) -> None: ...


async def _token_request(sessions: UpstreamSessions, form: dict[str, str]) -> TokenGrant:
    cfg = sessions.config.upstream
    form = {"client_id": cfg.oauth_client_id, "client_secret": cfg.oauth_client_secret, **form}
    session = sessions.get("oauth")
    try:
        async with session.post(cfg.oauth_token_url, data=form, proxy=sessions.http_proxy,
                                headers={"Accept": "application/json"}) as resp:
            body = await resp.read()
            status = resp.status
    except TRANSPORT_ERRORS as exc:
        raise UpstreamError(UpstreamErrorKind.TRANSPORT, 0, f"token endpoint unreachable: {type(exc).__name__}") from None
    data: dict[str, Any] = {}
    try:
        parsed = jsoncodec.loads(body) if body else {}
        data = parsed if isinstance(parsed, dict) else {}
    except ValueError:
        pass
    if status != 200 or not data.get("access_token"):
        if data.get("error") == "invalid_grant":
            log.info("token endpoint: invalid_grant (%s)", str(data.get("error_description") or "-")[:120])
            raise invalid_grant(status, body)
        err = classify(status if status != 200 else 502, body)
        err.message = f"token endpoint: {data.get('error') or ''} {data.get('error_description') or err.message}".strip()
        raise err
    expires_in = float(data.get("expires_in") or 3600)
    return TokenGrant(str(data["access_token"]), time.time() + expires_in, str(data.get("refresh_token") or ""))


async def refresh_access_token(sessions: UpstreamSessions, refresh_token: str) -> TokenGrant:
    """Form POST to `upstream.oauth_token_url`; `invalid_grant` → UpstreamError(INVALID_GRANT)."""
    return await _token_request(sessions, {"refresh_token": refresh_token, "grant_type": "refresh_token"})


async def exchange_code(sessions: UpstreamSessions, code: str, redirect_uri: str) -> TokenGrant:
    """Login: trade the consent code for tokens (the refresh token is in the grant)."""
    return await _token_request(
        sessions, {"code": code, "redirect_uri": redirect_uri, "grant_type": "authorization_code"}
    )


def consent_url(client_id: str, redirect_uri: str, state: str) -> str:
    """The browser URL for adding an account (offline access, always ask consent so a
    refresh token is issued even for a returning user)."""
    query = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(SCOPES),
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "state": state,
    }
    return f"{AUTH_URL}?{urlencode(query)}"


async def fetch_email(sessions: UpstreamSessions, access_token: str) -> str:
    """The account's email via `upstream.oauth_userinfo_url`."""
    url = sessions.config.upstream.oauth_userinfo_url
    try:
        async with sessions.get("oauth").get(url, proxy=sessions.http_proxy,
                                             headers={"Authorization": f"Bearer {access_token}"}) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise classify(resp.status, body, resp.headers)
    except TRANSPORT_ERRORS as exc:
        raise UpstreamError(UpstreamErrorKind.TRANSPORT, 0, f"userinfo unreachable: {type(exc).__name__}") from None
    data = jsoncodec.loads(body)
    return str(data.get("email") or "") if isinstance(data, dict) else ""


class TokenManager:
    """Keeps access tokens fresh. One refresh at a time per account: concurrent
    callers wait on the account's lock and reuse the token the first one got."""

    def __init__(self, sessions: UpstreamSessions, store: TokenSink) -> None:
        self._sessions = sessions
        self._store = store
        self._locks: dict[str, asyncio.Lock] = {}
        self.refreshes = 0  # HTTP refreshes done (observability and tests)

    @staticmethod
    def is_fresh(account: Account, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return bool(account.access_token) and account.token_expiry - now > REFRESH_MARGIN_S

    async def ensure_token(self, account: Account, force: bool = False) -> str:
        """A valid access token. `force` (after a 401) refreshes even if the cached
        token looks valid — unless another caller already replaced it meanwhile."""
        stale = account.access_token
        if not force and self.is_fresh(account):
            return account.access_token
        lock = self._locks.setdefault(account.id, asyncio.Lock())
        async with lock:
            if account.access_token and account.access_token != stale and self.is_fresh(account):
                return account.access_token  # refreshed by the caller that held the lock
            if not force and self.is_fresh(account):
                return account.access_token
            if not account.refresh_token:
                raise UpstreamError(UpstreamErrorKind.INVALID_GRANT, 0,
                                    "this account has no refresh token; add it again")
            self.refreshes += 1
            grant = await refresh_access_token(self._sessions, account.refresh_token)
            self._store.update_tokens(account, grant.access_token, grant.expires_at, grant.refresh_token or None)
            log.debug("refreshed access token for account %s", account.id)
            return account.access_token
