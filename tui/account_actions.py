"""The account actions behind the Accounts tab that need the network: add by
refresh token, OAuth login with a pasted code, and quota refresh. Each builds on
proxy/upstream (oauth, antigravity) and writes through the AccountStore; Gemini
keys and imports need no network and call the store / importers directly."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs, urlparse

from proxy.accounts.importers import ImportReport, import_path
from proxy.accounts.model import Account, AccountKind
from proxy.config.model import Config
from proxy.upstream.http import UpstreamSessions
from proxy.upstream.oauth import (
    consent_url,
    exchange_code,
    fetch_email,
    refresh_access_token,
)

# Installed-app OAuth clients accept any localhost redirect; over SSH the browser's
# redirect fails and the user pastes the address (or just the code) back.
REDIRECT_URI = "http://localhost:51121/oauth-callback"


def login_url(config: Config) -> tuple[str, str]:
    """(consent URL, state) for a new OAuth login."""
    state = secrets.token_urlsafe(12)
    return consent_url(config.upstream.oauth_client_id, REDIRECT_URI, state), state


def code_from_paste(text: str) -> str:
    """Accept the whole redirect URL or just the code."""
    text = text.strip()
    if "code=" in text:
        query = parse_qs(urlparse(text).query or text.split("?", 1)[-1])
        codes = query.get("code")
        if codes:
            return codes[0]
    return text


async def add_refresh_token(
    store: Any, sessions: UpstreamSessions, refresh_token: str
) -> tuple[Account, bool]:
    """Check the token with Google (refresh + email lookup) and store the account."""
    grant = await refresh_access_token(sessions, refresh_token)
    email = await fetch_email(sessions, grant.access_token)
    account = Account.antigravity(
        email,
        grant.refresh_token or refresh_token,
        access_token=grant.access_token,
        token_expiry=grant.expires_at,
    )
    return store.add(account)


async def add_oauth_code(
    store: Any, sessions: UpstreamSessions, pasted: str
) -> tuple[Account, bool]:
    """Finish an OAuth login: exchange the pasted code, look up the email, store."""
    grant = await exchange_code(sessions, code_from_paste(pasted), REDIRECT_URI)
    if not grant.refresh_token:
        raise ValueError("Google returned no refresh token; remove agproxy's access and try again")
    email = await fetch_email(sessions, grant.access_token)
    account = Account.antigravity(
        email, grant.refresh_token, access_token=grant.access_token, token_expiry=grant.expires_at
    )
    return store.add(account)


def add_gemini_key(store: Any, api_key: str) -> tuple[Account, bool]:
    if len(api_key) < 20:
        raise ValueError("that does not look like a Gemini API key")
    return store.add(Account.gemini_key(api_key))


def import_accounts(store: Any, path: str) -> ImportReport:
    return import_path(store, path)


async def refresh_quota(service: Any, account: Account) -> int:
    """Fetch the account's per-model quota (Antigravity only) with the service's
    upstream client; returns the model count."""
    if account.kind is not AccountKind.ANTIGRAVITY:
        raise ValueError("quota is only reported for Antigravity accounts")
    quota = await service.dispatcher.antigravity.fetch_quota(account)
    service.accounts.update_quota(account, quota, account.quota_fetched_at or None)
    return len(quota)
