"""Adding and refreshing Antigravity accounts over HTTP (SPEC §5): a pasted refresh
token, the browser login (local redirect or a pasted redirect URL / code, so it
works over SSH), and the on-demand refresh of token, project and quota. Shared by
the CLI and the TUI; the HTTP calls themselves live in proxy/upstream."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from proxy.accounts.model import Account, AccountKind, AccountState
from proxy.accounts.store import AccountStore
from proxy.catalogues import record_failure
from proxy.errors import UpstreamError, UpstreamErrorKind
from proxy.upstream.antigravity import AntigravityClient
from proxy.upstream.gemini_api import GeminiApiClient
from proxy.upstream.http import UpstreamSessions
from proxy.upstream.oauth import (
    TokenGrant,
    TokenManager,
    consent_url,
    exchange_code,
    fetch_email,
    refresh_access_token,
)

log = logging.getLogger(__name__)

CALLBACK_PATH = "/oauth-callback"
_DONE_PAGE = (
    "<!doctype html><meta charset=utf-8><title>agproxy</title>"
    "<p>agproxy: {message} You can close this tab.</p>"
)


@dataclass
class AddResult:
    account: Account
    created: bool
    warnings: list[str] = field(default_factory=list)


class LoginError(Exception):
    """A login that cannot go on, worded for the user."""


async def add_refresh_token(
    store: AccountStore, sessions: UpstreamSessions, refresh_token: str
) -> AddResult:
    """Check the token (refresh it once), look the email up, store the account and
    fetch its project and quota. Raises UpstreamError (INVALID_GRANT for a bad token)."""
    grant = await refresh_access_token(sessions, refresh_token.strip())
    return await add_from_grant(store, sessions, grant, refresh_token.strip())


async def add_from_grant(
    store: AccountStore, sessions: UpstreamSessions, grant: TokenGrant, refresh_token: str = ""
) -> AddResult:
    refresh = grant.refresh_token or refresh_token
    if not refresh:
        raise LoginError("Google returned no refresh token; try again (consent must be given)")
    email = await fetch_email(sessions, grant.access_token)
    candidate = Account.antigravity(
        email, refresh, access_token=grant.access_token, token_expiry=grant.expires_at
    )
    account, created = store.add(candidate)
    if not created:  # same email: the new token pair replaces the old one
        store.update_tokens(account, grant.access_token, grant.expires_at, refresh_token=refresh)
    result = AddResult(account, created)
    result.warnings = await refresh_account(store, sessions, account, refresh_token_first=False)
    return result


async def refresh_account(
    store: AccountStore,
    sessions: UpstreamSessions,
    account: Account,
    refresh_token_first: bool = True,
) -> list[str]:
    """Refresh the access token, the project id and the live catalogue with its quota
    (SPEC §9), recording what Google says (auth_failed, forbidden, verification) on the
    account. Returns problems worded for the user (empty: all fine)."""
    tokens = TokenManager(sessions, store)
    try:
        if account.kind is AccountKind.ANTIGRAVITY:
            if refresh_token_first:
                await tokens.ensure_token(account, force=True)
            read = await AntigravityClient(sessions, tokens, store.save).read_catalogue(account)
        else:
            read = await GeminiApiClient(sessions).read_catalogue(account)
    except UpstreamError as err:
        return [record_failure(store, account, err)]
    if account.state is not AccountState.ACTIVE:  # Google answered: whatever it was is over
        store.mark_state(account, AccountState.ACTIVE)
    store.update_catalogue(account, read.catalogue, read.quota)
    if account.kind is AccountKind.ANTIGRAVITY and not account.project_id:
        return ["no Cloud project found for this account (loadCodeAssist gave none)"]
    return []


async def add_gemini_key(store: AccountStore, sessions: UpstreamSessions, api_key: str) -> AddResult:
    """Validate the key by reading its model listing (SPEC §9), then store it with its
    catalogue. A key the API rejects is refused at once (LoginError); when the API cannot
    be reached the key is stored with a warning and read again later."""
    key = api_key.strip()
    candidate = Account.gemini_key(key)
    try:
        read = await GeminiApiClient(sessions).read_catalogue(candidate)
    except UpstreamError as err:
        if err.kind in _KEY_REJECTED:
            raise LoginError(f"the Gemini API rejected this key: {err.message[:160]}") from None
        account, created = store.add(candidate)
        return AddResult(account, created, [(f"could not check the key now ({err.kind.value}: "
                                            f"{err.message[:100]}); it is read again when the proxy runs")])
    account, created = store.add(candidate)
    store.update_catalogue(account, read.catalogue, read.quota)
    return AddResult(account, created)


async def read_catalogues(store: AccountStore, sessions: UpstreamSessions, accounts: list[Account]) -> list[str]:
    """After an import: each account's catalogue and quota, so it ranks by its real quota
    from the first request. Returns problems worded for the user."""
    problems: list[str] = []
    for account in accounts:
        if account.disabled:
            continue
        for problem in await refresh_account(store, sessions, account, refresh_token_first=False):
            problems.append(f"{account.label}: {problem}")
    return problems


_KEY_REJECTED = frozenset({UpstreamErrorKind.UNAUTHORIZED, UpstreamErrorKind.FORBIDDEN,
                           UpstreamErrorKind.BAD_REQUEST, UpstreamErrorKind.INVALID_GRANT})


def parse_pasted(text: str, expected_state: str) -> str:
    """The code from what a user pasted: the whole redirect URL (the page the
    browser could not open over SSH), its query string, or the bare code."""
    text = text.strip()
    if not text:
        raise LoginError("nothing pasted")
    if "code=" in text or "error=" in text:
        query = urlsplit(text).query if "?" in text else text.lstrip("?")
        params = {k: v[0] for k, v in parse_qs(query).items()}
        if params.get("error"):
            raise LoginError(f"Google refused the login: {params['error']}")
        state = params.get("state")
        if state is not None and state != expected_state:
            raise LoginError("that redirect belongs to another login attempt (state mismatch)")
        if not params.get("code"):
            raise LoginError("no code in the pasted URL")
        return params["code"]
    if any(c.isspace() for c in text):
        raise LoginError("paste the whole redirect URL or just the code")
    return text


class LoginFlow:
    """One browser login: a listener on 127.0.0.1:<free port> for Google's redirect,
    plus `submit()` for a pasted redirect URL or code. Whichever comes first wins."""

    def __init__(self, client_id: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.client_id = client_id
        self.host, self.port = host, port
        self.state = secrets.token_urlsafe(16)
        self.redirect_uri = ""
        self.url = ""
        self._code: asyncio.Future[str] | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Start the listener; returns the consent URL to open."""
        self._code = asyncio.get_running_loop().create_future()
        app = web.Application()
        app.router.add_get(CALLBACK_PATH, self._callback)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.redirect_uri = f"http://{self.host}:{port}{CALLBACK_PATH}"
        self.url = consent_url(self.client_id, self.redirect_uri, self.state)
        return self.url

    def submit(self, text: str) -> None:
        """A pasted redirect URL or code. Raises LoginError for unusable input."""
        code = parse_pasted(text, self.state)
        self._resolve(code)

    async def wait_code(self, timeout: float | None = None) -> str:
        assert self._code is not None, "start() first"
        try:
            return await asyncio.wait_for(asyncio.shield(self._code), timeout)
        except TimeoutError:
            raise LoginError("timed out waiting for the login") from None

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _resolve(self, code: str) -> None:
        if self._code is not None and not self._code.done():
            self._code.set_result(code)

    def _fail(self, exc: Exception) -> None:
        if self._code is not None and not self._code.done():
            self._code.set_exception(exc)

    async def _callback(self, request: web.Request) -> web.Response:
        try:
            code = parse_pasted(request.query_string, self.state)
        except LoginError as exc:
            if "state mismatch" not in str(exc):  # a stray request must not end the login
                self._fail(exc)
            return web.Response(
                text=_DONE_PAGE.format(message=str(exc) + "."), content_type="text/html"
            )
        self._resolve(code)
        return web.Response(
            text=_DONE_PAGE.format(message="login received; back to the terminal."),
            content_type="text/html",
        )


async def finish_login(
    store: AccountStore, sessions: UpstreamSessions, flow: LoginFlow, code: str
) -> AddResult:
    grant = await exchange_code(sessions, code, flow.redirect_uri)
    return await add_from_grant(store, sessions, grant)
