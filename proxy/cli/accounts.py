"""`agproxy accounts …` (SPEC §5, §13): list, add (refresh token, API key, browser
login), import/export, enable/disable/remove, refresh token + project + quota.

Every command goes through a Controller (SPEC §17): the running proxy's control
socket when a serve (or an in-process TUI) runs on this config — the change is
immediate and that process is the one writer — else a ProxyService of this
process that is not started, working on the files."""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from proxy import jsoncodec
from proxy.accounts.importers import export_accounts
from proxy.accounts.model import Account, AccountKind, AccountState
from proxy.accounts.store import AccountStore
from proxy.config.model import ConfigError
from proxy.control.api import ControlError, Controller
from proxy.errors import UpstreamError
from proxy.humanize import duration
from proxy.onboarding import LoginError, looks_like_gemini_key
from proxy.paths import Paths, resolve_paths

PROG = "agproxy accounts"
LOGIN_TIMEOUT_S = 600.0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "accounts", help="manage upstream accounts", description="Manage upstream accounts."
    )
    cmds = p.add_subparsers(dest="accounts_command", metavar="ACTION")
    p.set_defaults(func=lambda args: _usage(p))

    c = cmds.add_parser("list", help="show accounts, state and quota")
    c.add_argument("--json", action="store_true", help="one JSON object per account (no secrets)")
    c.set_defaults(func=cmd_list)

    c = cmds.add_parser("show", help="one account: state and why, its models, quota and cooldowns")
    c.add_argument("account", metavar="ACCOUNT", help="id, label, name or email")
    c.add_argument("--json", action="store_true", help="one JSON object (no secrets)")
    c.set_defaults(func=cmd_show)

    c = cmds.add_parser("add-token", help="add a Google account from its OAuth refresh token")
    c.add_argument("token", metavar="TOKEN", help="the refresh token ('-' reads it from stdin)")
    c.set_defaults(func=cmd_add_token)

    c = cmds.add_parser("add-key", help="add a Gemini API key")
    c.add_argument("key", metavar="KEY", help="the API key ('-' reads it from stdin)")
    c.set_defaults(func=cmd_add_key)

    c = cmds.add_parser("login", help="add a Google account by signing in with a browser")
    c.add_argument("--port", type=int, default=None,
                   help="local redirect port (default: upstream.oauth_redirect_port; 0: a free one)")
    c.add_argument(
        "--timeout", type=float, default=LOGIN_TIMEOUT_S, help="seconds to wait (default 600)"
    )
    c.set_defaults(func=cmd_login)

    c = cmds.add_parser(
        "import", help="import an agproxy export or the reference app's account files"
    )
    c.add_argument(
        "path", metavar="PATH", help="a JSON file, or a folder such as ~/.antigravity_tools"
    )
    c.set_defaults(func=cmd_import)

    c = cmds.add_parser("export", help="write all accounts (with secrets) to one 0600 JSON file")
    c.add_argument("path", metavar="PATH")
    c.set_defaults(func=cmd_export)

    for name, func, text in (
        ("enable", cmd_enable, "enable an account (and clear its error state)"),
        ("disable", cmd_disable, "stop using an account"),
    ):
        c = cmds.add_parser(name, help=text)
        c.add_argument("account", metavar="ID", help="id, id prefix, label or email")
        c.set_defaults(func=func)

    c = cmds.add_parser("rename", help="give an account a name (shown instead of its email or key)")
    c.add_argument("account", metavar="ID", help="id, id prefix, label or email")
    c.add_argument("name", metavar="NAME", help='the new name ("" removes it)')
    c.set_defaults(func=cmd_rename)

    c = cmds.add_parser("remove", help="delete an account")
    c.add_argument("account", metavar="ID", help="id, id prefix, label or email")
    c.add_argument("--yes", "-y", action="store_true", help="do not ask")
    c.set_defaults(func=cmd_remove)

    c = cmds.add_parser("refresh", help="refresh token, project and quota (all accounts, or one)")
    c.add_argument("account", metavar="ID", nargs="?", help="id, id prefix, label or email")
    c.set_defaults(func=cmd_refresh)


# -- plumbing -----------------------------------------------------------------------


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _fail(message: str, code: int = 1) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return code


def _paths(args: argparse.Namespace) -> Paths:
    return resolve_paths(getattr(args, "config", None))


def _store(args: argparse.Namespace) -> AccountStore:
    store = AccountStore(_paths(args).accounts_dir)
    store.load_all()
    for path, reason in store.load_errors:
        print(f"{PROG}: warning: skipped unreadable {path} ({reason})", file=sys.stderr)
    return store


Job = Callable[[Controller], Awaitable[int]]


def _run(args: argparse.Namespace, job: Job) -> int:
    """Run `job` with the running proxy's controller, or with one over the files."""
    from proxy.control.connect import run_command

    return run_command(_with_controller(_paths(args), job))


async def _with_controller(paths: Paths, job: Job) -> int:
    from proxy.control.api import ATTACHED
    from proxy.control.connect import controller_for

    try:
        async with controller_for(paths) as controller:
            if controller.mode != ATTACHED:  # working on the files: say what was skipped
                for path, reason in controller.service.accounts.load_errors:  # type: ignore[attr-defined]
                    print(f"{PROG}: warning: skipped unreadable {path} ({reason})", file=sys.stderr)
            return await job(controller)
    except (ConfigError, ControlError, LoginError) as exc:
        return _fail(str(exc))


async def _find(controller: Controller, key: str) -> Account | None:
    acc = await controller.find_account(key)
    if acc is None:
        print(f"{PROG}: no account matches {key!r} (see `agproxy accounts list`)", file=sys.stderr)
    return acc


def _secret_arg(value: str) -> str:
    return sys.stdin.readline().strip() if value == "-" else value.strip()


def describe_state(acc: Account, now: float) -> str:
    state = acc.effective_state(now)
    text = state.value
    if state is AccountState.COOLING:
        text += f" (in {duration(acc.cooling_until() - now)})"
    elif state is AccountState.VERIFICATION_REQUIRED:
        text += f" (retry in {duration(acc.state_until - now)})"
    if state not in (AccountState.ACTIVE, AccountState.COOLING) and acc.state_reason:
        text += f": {acc.state_reason[:80]}"
    cooling = acc.model_cooldowns(now)
    if cooling:
        text += "; cooling " + ", ".join(
            f"{m} in {duration(t - now)}" for m, t in sorted(cooling.items())
        )
    return text


def shown_quota(acc: Account) -> tuple[dict[str, Any], int]:
    """(the quota of the models the account offers, how many other ids it holds): once
    the catalogue is read, the quota listing's internal ids (chat_…, tab_…) are not
    models a client can ask for, as `accounts show` and the TUI leave them out."""
    if acc.catalogue is None:
        return dict(acc.quota), 0
    listed = acc.offered() | acc.unavailable.keys()  # as `account_view` lists them
    shown = {m: q for m, q in acc.quota.items() if m in listed}
    return shown, len(acc.quota) - len(shown)


def quota_lines(acc: Account, now: float) -> list[str]:
    if acc.kind is not AccountKind.ANTIGRAVITY:
        return []
    if not acc.quota:
        return ["    quota: unknown (never fetched; run `agproxy accounts refresh`)"]
    shown, hidden = shown_quota(acc)
    lines = [f"    quota (data {duration(now - acc.quota_fetched_at)} old):"]
    for model, q in sorted(shown.items()):
        pct = "?" if q.remaining_fraction is None else f"{q.remaining_fraction * 100:.0f}%"
        reset = ""
        if q.reset_time is not None:
            reset = (
                f", resets in {duration(q.reset_time - now)}"
                if q.reset_time > now
                else ", reset due"
            )
        lines.append(f"      {model:<32} {pct:>5}{reset}")
    if hidden:
        lines.append(f"      (+{hidden} internal ids)")
    return lines


def quota_count(acc: Account) -> str:
    """"quota for N model(s)": offered models only (see `shown_quota`)."""
    return f"quota for {len(shown_quota(acc)[0])} model(s)"


# -- commands -------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    async def job(controller: Controller) -> int:
        accounts = controller.accounts()
        now = time.time()
        if args.json:
            for acc in accounts:
                sys.stdout.write(jsoncodec.dumps(acc.public_view(now)).decode() + "\n")
            return 0
        if not accounts:
            print(
                "no accounts yet: agproxy accounts login | add-token TOKEN | add-key KEY | import PATH"
            )
            return 0
        print(f"{'ID':<9} {'KIND':<12} {'LABEL':<32} STATE")
        for acc in accounts:
            print(f"{acc.id:<9} {acc.kind.value:<12} {acc.label:<32} {describe_state(acc, now)}")
            if acc.validation_url and acc.effective_state(now) is AccountState.VERIFICATION_REQUIRED:
                print(f"    verify at: {acc.validation_url}")
            for line in quota_lines(acc, now):
                print(line)
        usable = sum(1 for a in accounts if a.effective_state(now) is AccountState.ACTIVE)
        print(f"{len(accounts)} account(s), {usable} usable")
        return 0

    return _run(args, job)


def cmd_show(args: argparse.Namespace) -> int:
    """What the TUI's account detail shows: the whole state reason, every model the
    catalogue offers with quota, reset and cooldown, the catalogue's age, deprecations."""
    from proxy.cli.models import catalogue_lines
    from proxy.control.models import account_view

    async def job(controller: Controller) -> int:
        acc = await _find(controller, args.account)
        if acc is None:
            return 1
        now = time.time()
        view = account_view(acc, now)
        if args.json:
            print(jsoncodec.dumps_pretty({**acc.public_view(now), "catalogue_view": view}))
            return 0
        print(f"{acc.label} ({acc.kind.value}, id {acc.id})")
        if acc.email and acc.email != acc.label:
            print(f"  email: {acc.email}")
        state = acc.effective_state(now)
        print(f"  state: {describe_state(acc, now)}")
        if acc.state_reason and state is not AccountState.ACTIVE:
            print(f"  reason: {acc.state_reason}")
        if acc.validation_url:
            print(f"  verify at: {acc.validation_url}")
        print(f"  catalogue: {view['catalogue_state']}")
        for line in catalogue_lines(view, indent="    "):
            print(line)
        return 0

    return _run(args, job)


def cmd_add_key(args: argparse.Namespace) -> int:
    key = _secret_arg(args.key)
    if not key:
        return _fail("the API key is empty")
    if not (looks_like_gemini_key(key) and len(key) == 39):
        print(
            f"{PROG}: warning: this does not look like a Gemini API key (AIza…, 39 characters)",
            file=sys.stderr,
        )

    async def job(controller: Controller) -> int:
        result = await controller.add_gemini_key(key, force=True)  # LoginError: refused (SPEC §9)
        acc = result.account
        print(f"{'added' if result.created else 'already present'}: {acc.label} (id {acc.id})")
        if acc.catalogue is not None:
            print(f"  {len(acc.offered())} model(s) offered")
        for warning in result.warnings:
            print(f"  warning: {warning}", file=sys.stderr)
        return 0

    return _run(args, job)


def cmd_import(args: argparse.Namespace) -> int:
    async def job(controller: Controller) -> int:
        # the proxy reads each imported account's catalogue at once (SPEC §9), so the
        # accounts rank by their real quota from the first request
        report = await controller.import_accounts(args.path)
        for label in report.added:
            print(f"added    {label}")
        for label in report.updated:
            print(f"updated  {label}")
        for source, reason in report.skipped:
            print(f"skipped  {source}: {reason}", file=sys.stderr)
        for problem in report.warnings:
            print(f"  warning: {problem}", file=sys.stderr)
        print(f"import: {report.summary()}")
        return 0 if report.added or report.updated or not report.skipped else 1

    return _run(args, job)


def cmd_export(args: argparse.Namespace) -> int:
    store = _store(args)  # read-only: the files hold everything, secrets included
    try:
        n = export_accounts(store, args.path)
    except OSError as exc:
        return _fail(f"cannot write {args.path}: {exc.strerror or exc}")
    print(f"exported {n} account(s) to {args.path} (mode 0600; it holds secrets)")
    return 0


def _set_disabled(args: argparse.Namespace, disabled: bool) -> int:
    async def job(controller: Controller) -> int:
        acc = await _find(controller, args.account)
        if acc is None:
            return 1
        await controller.set_disabled(acc.id, disabled)
        print(f"{'disabled' if disabled else 'enabled'}: {acc.label} (id {acc.id})")
        return 0

    return _run(args, job)


def cmd_enable(args: argparse.Namespace) -> int:
    return _set_disabled(args, False)


def cmd_disable(args: argparse.Namespace) -> int:
    return _set_disabled(args, True)


def cmd_rename(args: argparse.Namespace) -> int:
    async def job(controller: Controller) -> int:
        acc = await _find(controller, args.account)
        if acc is None:
            return 1
        renamed = await controller.rename_account(acc.id, args.name)
        print(f"{'renamed' if renamed.name else 'name removed'}: {renamed.label} (id {acc.id})")
        return 0

    return _run(args, job)


def cmd_remove(args: argparse.Namespace) -> int:
    async def job(controller: Controller) -> int:
        acc = await _find(controller, args.account)
        if acc is None:
            return 1
        if not args.yes:
            if not sys.stdin.isatty():
                return _fail(f"not removing {acc.label} without --yes")
            answer = input(f"Remove {acc.label} (id {acc.id})? [y/N] ").strip().lower()
            if answer not in ("y", "yes"):
                print("kept")
                return 1
        await controller.remove_account(acc.id)
        print(f"removed: {acc.label} (id {acc.id})")
        return 0

    return _run(args, job)


# -- commands that talk to Google ------------------------------------------------------


def _report_added(result: Any) -> int:
    acc = result.account
    print(f"{'added' if result.created else 'updated'}: {acc.label} (id {acc.id})")
    if acc.project_id:
        print(f"  project: {acc.project_id}")
    if acc.quota:
        print(f"  {quota_count(acc)} fetched")
    for warning in result.warnings:
        print(f"  warning: {warning}", file=sys.stderr)
    return 0


def cmd_add_token(args: argparse.Namespace) -> int:
    token = _secret_arg(args.token)
    if not token:
        return _fail("the refresh token is empty")

    async def job(controller: Controller) -> int:
        try:
            result = await controller.add_refresh_token(token)
        except (UpstreamError, LoginError) as exc:
            return _fail(f"cannot add the account: {exc}")
        return _report_added(result)

    return _run(args, job)


def cmd_refresh(args: argparse.Namespace) -> int:
    async def job(controller: Controller) -> int:
        if args.account:
            acc = await _find(controller, args.account)
            if acc is None:
                return 1
            targets = [acc]
        else:
            targets = [
                a
                for a in controller.accounts()
                if a.kind is AccountKind.ANTIGRAVITY and not a.disabled
            ]
        if not targets:
            print("nothing to refresh (no enabled Google accounts)")
            return 0
        failed = 0
        for acc in targets:
            if acc.kind is not AccountKind.ANTIGRAVITY:
                print(f"{acc.label}: API keys have nothing to refresh")
                continue
            result = await controller.refresh_account(acc.id)
            if result.problems:
                failed += 1
                print(f"{acc.label}: " + "; ".join(result.problems), file=sys.stderr)
            else:
                print(f"{acc.label}: ok, {quota_count(result.account)}")
        return 1 if failed else 0

    return _run(args, job)


def cmd_login(args: argparse.Namespace) -> int:
    async def job(controller: Controller) -> int:
        flow = await controller.login(args.port)  # a busy port: LoginError, said by _fail
        try:
            port = flow.redirect_uri.rsplit(":", 1)[1].split("/")[0]
            print("Open this URL in a browser and sign in with the Google account to add:\n")
            print(f"  {flow.url}\n")
            print(f"Waiting for Google's redirect to {flow.redirect_uri}")
            print(
                "Over SSH: the browser's redirect page will fail to load; copy its address "
                f"(or just the code) and paste it here, or forward the port: ssh -L {port}:127.0.0.1:{port} …"
            )
            _read_pastes(flow)
            await flow.wait_code(args.timeout)
            result = await flow.finish()
        except (LoginError, UpstreamError) as exc:
            return _fail(f"login failed: {exc}")
        finally:
            await flow.close()
        return _report_added(result)

    return _run(args, job)


def _read_pastes(flow: Any) -> None:
    """Feed stdin lines to the login from a daemon thread (it never blocks exit,
    unlike the loop's executor, when the browser redirect wins)."""
    loop = asyncio.get_running_loop()

    async def submit(line: str) -> None:
        try:
            await flow.submit(line)
        except (LoginError, ControlError) as exc:
            print(f"{exc}; paste the redirect URL or code again", file=sys.stderr)

    def reader() -> None:
        for line in sys.stdin:
            if line.strip():
                asyncio.run_coroutine_threadsafe(submit(line), loop)

    threading.Thread(target=reader, name="login-stdin", daemon=True).start()
