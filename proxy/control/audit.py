"""One INFO log line per change a user makes (config and mapping edits, client keys,
accounts). Logged by `InProcessController`, the one place in the serving process every
front end's change passes (the in-process TUI, the control socket for the CLI and an
attached TUI, the CLI with no proxy running), so each change is logged once. Lines name
config keys, key names and account ids and labels; never a secret's value."""

from __future__ import annotations

import logging
import time
from typing import Any

from proxy.accounts.model import Account
from proxy.config.model import SECRET_KEYS, Config

log = logging.getLogger("proxy.changes")

# Values never logged: the secrets, and a proxy URL (it may carry user:password@).
UNSHOWN = SECRET_KEYS | {"upstream.proxy_url"}
MAX_VALUE = 80  # a long list (endpoints) is cut, the line stays one line


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys to leaf values; a mapping entry is `model_mapping.<client model>`."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    text = repr(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def config_changes(old: Config, new: Config) -> list[str]:
    """What changed, one phrase per key: `proxy.port 8045 → 9000`, `proxy.api_key changed`,
    `model_mapping.gpt-4o (none) → 'gemini-2.5-pro'`."""
    before, after = _flat(old.to_dict()), _flat(new.to_dict())
    changes: list[str] = []
    for key in [*after, *(k for k in before if k not in after)]:
        was, now = before.get(key), after.get(key)
        if was == now:
            continue
        if key in UNSHOWN:
            changes.append(f"{key} changed")
        else:
            changes.append(f"{key} {_show(was)} → {_show(now)}")
    return changes


def log_config(old: Config, new: Config, via: str) -> None:
    changes = config_changes(old, new)
    if changes:
        log.info("config changed (%s): %s", via, "; ".join(changes))


def log_account(action: str, account: Account | None, detail: str = "") -> None:
    """`account added (API key): key …abcd (id 1a2b3c4d, gemini_key)`; a key account's
    label is already masked, an OAuth account's is its email or name."""
    what = f"{account.label} (id {account.id}, {account.kind.value})" if account else detail
    log.info("account %s: %s", action, what)


def log_client_key(
    action: str,
    name: str,
    *,
    models: list[str] | None = None,
    rpm: int = 0,
    tokens_per_day: int = 0,
    expires: float = 0.0,
) -> None:
    """`client key 'alice' added (models claude-*, rpm 30, …)`: the name and limits only."""
    detail = ""
    if models is not None:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(expires)) if expires else "never"
        detail = (
            f" (models {', '.join(models) or 'any'}, rpm {rpm or 'no limit'}, "
            f"tokens/day {tokens_per_day or 'no limit'}, expires {when})"
        )
    log.info("client key '%s' %s%s", name, action, detail)
