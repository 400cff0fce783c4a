"""The account actions behind the Accounts tab, as thin wrappers over the shared
onboarding code (proxy/accounts/onboarding.py, also used by `agproxy accounts`):
the TUI adds no OAuth or quota logic of its own, only wording for notifications.

Network actions are coroutines run in Textual workers, so the event loop (which
also serves the proxy) never blocks; Gemini keys and imports touch only files."""

from __future__ import annotations

from dataclasses import dataclass, field

from proxy.accounts.importers import ImportReport, import_path
from proxy.accounts.model import Account, AccountKind
from proxy.accounts.onboarding import (
    AddResult,
    LoginError,
    LoginFlow,
    add_refresh_token,
    finish_login,
    refresh_account,
)
from proxy.accounts.store import AccountStore
from proxy.errors import UpstreamError
from proxy.upstream.http import UpstreamSessions

__all__ = [
    "AddResult",
    "LoginError",
    "LoginFlow",
    "QuotaResult",
    "add_gemini_key",
    "add_refresh_token",
    "error_text",
    "finish_login",
    "import_accounts",
    "refresh_quota",
    "start_login",
]

LOGIN_TIMEOUT_S = 600.0  # the consent page can take a while (2FA, account picker)


@dataclass
class QuotaResult:
    account: Account
    models: int
    problems: list[str] = field(default_factory=list)


async def start_login(client_id: str) -> LoginFlow:
    """A browser login with its local redirect listener running (127.0.0.1, free port)."""
    flow = LoginFlow(client_id)
    await flow.start()
    return flow


def add_gemini_key(store: AccountStore, api_key: str) -> tuple[Account, bool]:
    key = api_key.strip()
    if not (key.startswith("AIza") and len(key) >= 30):
        raise ValueError("that does not look like a Gemini API key (AIza…)")
    return store.add(Account.gemini_key(key))


def import_accounts(store: AccountStore, path: str) -> ImportReport:
    return import_path(store, path)


async def refresh_quota(
    store: AccountStore, sessions: UpstreamSessions, account: Account
) -> QuotaResult:
    """Refresh token, project and quota; problems are worded for the user."""
    if account.kind is not AccountKind.ANTIGRAVITY:
        raise ValueError("quota is only reported for Google (Antigravity) accounts")
    problems = await refresh_account(store, sessions, account)
    return QuotaResult(account, len(account.quota), problems)


def error_text(exc: BaseException) -> str:
    """One line for a notification (UpstreamError carries a user-facing message)."""
    if isinstance(exc, UpstreamError):
        return f"{exc.kind.value}: {exc.message[:200]}"
    return str(exc) or type(exc).__name__
