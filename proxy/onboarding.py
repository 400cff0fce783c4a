"""The onboarding use case (SPEC §5), beside the service: adding and refreshing
accounts — a pasted refresh token, a Gemini key, an import, the browser login
(local redirect or a pasted redirect URL / code, so it works over SSH), and the
on-demand refresh of token, project and quota.

`Onboarding` is built once by the `ProxyService` over its own account store,
upstream sessions, `TokenManager` and Antigravity client, so a refresh done here
shares the one-refresh-per-account lock with the requests being served. Front
ends reach it through a `Controller` (proxy/control). It sits above both
proxy/accounts and proxy/upstream (neither imports the other's use cases)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from proxy.accounts.importers import ImportReport, import_path
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


def looks_like_gemini_key(key: str) -> bool:
    return key.startswith("AIza") and len(key) >= 30


class Onboarding:
    """Adds and refreshes accounts with the service's one TokenManager and the
    dispatcher's upstream clients (so a read here is the read the requests use)."""

    def __init__(
        self,
        store: AccountStore,
        sessions: UpstreamSessions,
        tokens: TokenManager,
        antigravity: AntigravityClient,
        gemini: GeminiApiClient,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.tokens = tokens
        self.antigravity = antigravity
        self.gemini = gemini

    async def add_refresh_token(self, refresh_token: str) -> AddResult:
        """Check the token (refresh it once), look the email up, store the account and
        read its project and catalogue. Raises UpstreamError (INVALID_GRANT for a bad token)."""
        grant = await refresh_access_token(self.sessions, refresh_token.strip())
        return await self.add_from_grant(grant, refresh_token.strip())

    async def add_from_grant(self, grant: TokenGrant, refresh_token: str = "") -> AddResult:
        store = self.store
        refresh = grant.refresh_token or refresh_token
        if not refresh:
            raise LoginError("Google returned no refresh token; try again (consent must be given)")
        email = await fetch_email(self.sessions, grant.access_token)
        candidate = Account.antigravity(
            email, refresh, access_token=grant.access_token, token_expiry=grant.expires_at
        )
        account, created = store.add(candidate)
        if not created:  # same email: the new token pair replaces the old one
            store.update_tokens(account, grant.access_token, grant.expires_at, refresh_token=refresh)
        result = AddResult(account, created)
        result.warnings = await self.refresh_account(account, refresh_token_first=False)
        return result

    async def add_gemini_key(self, api_key: str, force: bool = False) -> AddResult:
        """Validate the key by reading its model listing (SPEC §9), then store it with
        its catalogue. Raises ValueError for something that is not a Gemini API key
        (`force`: any non-blank key without spaces, for keys of an unusual shape) and
        LoginError when the API rejects it; when the API cannot be reached the key is
        stored with a warning and read again later."""
        key = api_key.strip()
        if not key or any(c.isspace() for c in key):
            raise ValueError("the API key is empty or contains spaces")
        if not force and not looks_like_gemini_key(key):
            raise ValueError("that does not look like a Gemini API key (AIza…)")
        candidate = Account.gemini_key(key)
        try:
            read = await self.gemini.read_catalogue(candidate)
        except UpstreamError as err:
            if err.kind in _KEY_REJECTED:
                raise LoginError(f"the Gemini API rejected this key: {err.message[:160]}") from None
            account, created = self.store.add(candidate)
            warning = (f"could not check the key now ({err.kind.value}: {err.message[:100]}); "
                       "it is read again when the proxy runs")
            return AddResult(account, created, [warning])
        account, created = self.store.add(candidate)
        self.store.update_catalogue(account, read.catalogue, read.quota)
        return AddResult(account, created)

    async def import_path(self, path: str) -> ImportReport:
        """Import, then read each imported account's catalogue and quota, so it ranks
        by its real quota from the first request (problems in `report.warnings`)."""
        report = import_path(self.store, path)
        labels = [*report.added, *report.updated]
        imported = [a for a in (self.store.get(label) for label in labels) if a is not None]
        report.warnings = await self.read_catalogues(imported)
        return report

    async def read_catalogues(self, accounts: list[Account]) -> list[str]:
        problems: list[str] = []
        for account in accounts:
            if account.disabled:
                continue
            for problem in await self.refresh_account(account, refresh_token_first=False):
                problems.append(f"{account.label}: {problem}")
        return problems

    async def refresh_account(self, account: Account, refresh_token_first: bool = True) -> list[str]:
        """Refresh the access token, the project id and the live catalogue with its
        quota (SPEC §9), recording what Google says (auth_failed, forbidden,
        verification) on the account. Returns problems worded for the user (empty: all fine)."""
        store = self.store
        try:
            if account.kind is AccountKind.ANTIGRAVITY:
                if refresh_token_first:
                    await self.tokens.ensure_token(account, force=True)
                read = await self.antigravity.read_catalogue(account)
            elif account.kind is AccountKind.GEMINI_KEY:
                read = await self.gemini.read_catalogue(account)
            else:
                return []
        except UpstreamError as err:
            return [record_failure(store, account, err)]
        if account.state is not AccountState.ACTIVE:  # Google answered: whatever it was is over
            store.mark_state(account, AccountState.ACTIVE)
        store.update_catalogue(account, read.catalogue, read.quota)
        if account.kind is AccountKind.ANTIGRAVITY and not account.project_id:
            return ["no Cloud project found for this account (loadCodeAssist gave none)"]
        return []

    async def start_login(self, client_id: str, port: int = 0) -> LoginFlow:
        """A browser login with its local redirect listener running (127.0.0.1)."""
        flow = LoginFlow(client_id, port=port)
        try:
            await flow.start()
        except OSError as exc:
            await flow.close()
            raise LoginError(
                f"cannot listen for Google's redirect on 127.0.0.1:{port} "
                f"({exc.strerror or exc}): another login or program holds it; end that, or set "
                "upstream.oauth_redirect_port to a free port (0: a new free port each time)"
            ) from None
        return flow

    async def finish_login(self, flow: LoginFlow, code: str) -> AddResult:
        grant = await exchange_code(self.sessions, code, flow.redirect_uri)
        return await self.add_from_grant(grant)


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
    """One browser login: a listener on 127.0.0.1:<port> (0: a free one) for Google's redirect,
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

