"""The upstream account (SPEC §5): kinds, states, quota snapshot, and whether an
account may serve a model right now. Pure data; the store persists it, the pool
picks among accounts."""

from __future__ import annotations

import enum
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from proxy.accounts.catalogue import Catalogue
from proxy.models_table import gemini_api_model
from proxy.redact import MASK, mask_secret

# verification_required: the reference retries such an account after 10 minutes.
VERIFICATION_RETRY_S = 600.0
# A "0 % left" snapshot without a reset time is trusted only this long (then the
# next fetch or a real request tells us more) so an account cannot stay stuck.
QUOTA_NO_RESET_TRUST_S = 600.0
ACCOUNT_WIDE = "*"
# A model an account answered 404 for stays unavailable on it at least this long,
# even if a catalogue re-read right after still lists it (SPEC §7).
UNAVAILABLE_MIN_S = 600.0


class AccountKind(str, enum.Enum):
    ANTIGRAVITY = "antigravity"
    GEMINI_KEY = "gemini_key"


class AccountState(str, enum.Enum):
    ACTIVE = "active"
    COOLING = "cooling"
    DISABLED = "disabled"
    AUTH_FAILED = "auth_failed"
    FORBIDDEN = "forbidden"
    VERIFICATION_REQUIRED = "verification_required"


# States that only a person (enable, refresh, new token) clears.
_DEAD_STATES = frozenset({AccountState.AUTH_FAILED, AccountState.FORBIDDEN, AccountState.DISABLED})
# States that expire by themselves at `state_until`.
_TIMED_STATES = frozenset({AccountState.COOLING, AccountState.VERIFICATION_REQUIRED})

_MODEL_FAMILIES: dict[AccountKind, tuple[str, ...]] = {
    AccountKind.GEMINI_KEY: ("gemini-",),
    AccountKind.ANTIGRAVITY: ("gemini-", "claude-", "gpt-oss-"),
}


def new_account_id() -> str:
    """A short id for people to type (`agproxy accounts disable 3fa9c2d1`)."""
    return secrets.token_hex(4)


def key_label(api_key: str) -> str:
    """A label that identifies a key to its owner without revealing it (`key …nopq`)."""
    return f"key {mask_secret(api_key, prefix=False) or MASK}"


def default_label(kind: AccountKind, email: str, api_key: str) -> str:
    """What an account without a name is called: its email, or its key's last four."""
    if kind is AccountKind.ANTIGRAVITY:
        return email or "antigravity"
    return key_label(api_key)


@dataclass(slots=True)
class QuotaInfo:
    """One model's quota from `fetchAvailableModels`; None = not reported."""

    remaining_fraction: float | None
    reset_time: float | None  # epoch seconds
    fetched_at: float

    def exhausted(self, now: float) -> bool:
        if self.remaining_fraction is None or self.remaining_fraction > 0:
            return False
        if self.reset_time is not None:
            return self.reset_time > now
        return now - self.fetched_at < QUOTA_NO_RESET_TRUST_S

    def to_json(self) -> dict[str, Any]:
        return {
            "remaining_fraction": self.remaining_fraction,
            "reset_time": self.reset_time,
            "fetched_at": self.fetched_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QuotaInfo:
        return cls(
            remaining_fraction=_opt_float(data.get("remaining_fraction")),
            reset_time=_opt_float(data.get("reset_time")),
            fetched_at=float(data.get("fetched_at") or 0.0),
        )


@dataclass(eq=False)
class Account:
    """One upstream credential. Secrets are `repr=False` so they never reach a log line.

    `disabled` is the user's switch; `state` is what upstreams told us (auth_failed,
    forbidden, verification_required, cooling) and survives a disable/enable cycle
    unless the user explicitly re-enables (which clears it: "try again")."""

    id: str
    kind: AccountKind
    label: str  # what is shown everywhere: the name if one was given, else default_label()
    email: str = ""
    name: str = ""  # given by the user (`n`, `agproxy accounts rename`); "" = none
    refresh_token: str = field(default="", repr=False)
    access_token: str = field(default="", repr=False)
    token_expiry: float = 0.0
    project_id: str = ""
    api_key: str = field(default="", repr=False)
    disabled: bool = False
    state: AccountState = AccountState.ACTIVE
    state_reason: str = ""
    state_until: float = 0.0
    validation_url: str = ""
    cooldowns: dict[str, float] = field(default_factory=dict)  # model or "*" -> until (epoch): a real 429
    # Short coolings after faults that are no 429 (5xx, transport, auth retry): in memory
    # only, never the reason for an all-cooling 429 (SPEC §7).
    fault_cooldowns: dict[str, float] = field(default_factory=dict)
    quota: dict[str, QuotaInfo] = field(default_factory=dict)
    quota_fetched_at: float = 0.0
    catalogue: Catalogue | None = None  # None: never read (served optimistically)
    unavailable: dict[str, float] = field(default_factory=dict)  # model -> when it 404ed here
    last_used: float = 0.0
    requests: int = 0
    errors: int = 0
    created_at: float = field(default_factory=time.time)

    # -- construction ------------------------------------------------------------

    @classmethod
    def antigravity(cls, email: str, refresh_token: str, **kw: Any) -> Account:
        return cls(
            id=kw.pop("id", None) or new_account_id(),
            kind=AccountKind.ANTIGRAVITY,
            label=default_label(AccountKind.ANTIGRAVITY, email, ""),
            email=email,
            refresh_token=refresh_token,
            **kw,
        )

    @classmethod
    def gemini_key(cls, api_key: str, **kw: Any) -> Account:
        return cls(
            id=kw.pop("id", None) or new_account_id(),
            kind=AccountKind.GEMINI_KEY,
            label=key_label(api_key),
            api_key=api_key,
            **kw,
        )

    # -- selection ---------------------------------------------------------------

    def serves(self, model: str) -> bool:
        """Whether this account may be sent `model` (SPEC §9): its catalogue lists it and
        it has not answered 404 for it lately. An account whose catalogue was never read
        is tried optimistically for its kind's families (and read at once)."""
        if self.unavailable and model in self.unavailable:
            return False
        cat = self.catalogue
        if cat is None:
            return model.startswith(_MODEL_FAMILIES[self.kind])
        if model in cat.offered:
            return True
        return self.kind is AccountKind.GEMINI_KEY and gemini_api_model(model) in cat.offered

    def offered(self) -> frozenset[str]:
        """The ids this account's catalogue offers clients (empty when unknown)."""
        cat = self.catalogue
        if cat is None:
            return frozenset()
        if self.unavailable:
            return cat.offered - self.unavailable.keys()
        return cat.offered

    def set_name(self, name: str) -> None:
        """Give the account a name ("" removes it): the label follows."""
        self.name = " ".join(name.split())
        self.label = self.name or default_label(self.kind, self.email, self.api_key)

    def mark_unavailable(self, model: str, now: float) -> None:
        self.unavailable[model] = now

    def set_catalogue(self, catalogue: Catalogue) -> None:
        """A fresh read: keeps 404 marks younger than UNAVAILABLE_MIN_S (the read right
        after a 404 may still list the id), drops older ones."""
        self.catalogue = catalogue
        if self.unavailable:
            now = catalogue.read_at
            self.unavailable = {m: t for m, t in self.unavailable.items() if now - t < UNAVAILABLE_MIN_S}

    def cooling_until(self, model: str | None = None) -> float:
        """When the latest cooldown affecting `model` (or the account) ends; 0 if none."""
        until = self.cooldowns.get(ACCOUNT_WIDE, 0.0)
        if self.state is AccountState.COOLING:
            until = max(until, self.state_until)
        if model is not None:
            until = max(until, self.cooldowns.get(model, 0.0))
        return until

    def model_cooldowns(self, now: float) -> dict[str, float]:
        """Model -> when its own cooldown ends (a real 429 or a short cooling after a
        fault), for the models cooling now; the account-wide one is the account's state.
        What a person is shown (the TUI, `accounts list|show`, `agproxy models`)."""
        out: dict[str, float] = {}
        for table in (self.cooldowns, self.fault_cooldowns):
            for model, until in table.items():
                if model != ACCOUNT_WIDE and until > now:
                    out[model] = max(out.get(model, 0.0), until)
        return out

    def blocked_until(self, model: str, now: float) -> float | None:
        """None if the account can never serve `model` by waiting (dead, disabled,
        wrong kind); else the time it becomes selectable (<= now: selectable now)."""
        if self.disabled or self.state in _DEAD_STATES or not self.serves(model):
            return None
        until = self.cooling_until(model)
        if self.state is AccountState.VERIFICATION_REQUIRED:
            until = max(until, self.state_until)
        q = self.quota.get(model)
        if q is not None and q.exhausted(now):
            if q.reset_time is not None:
                until = max(until, q.reset_time)
            else:
                until = max(until, q.fetched_at + QUOTA_NO_RESET_TRUST_S)
        return until

    def is_selectable(self, model: str, now: float, faults_ok: bool = False) -> bool:
        """SPEC §5: only active and expired-cooling accounts; unknown quota is selectable.
        `faults_ok`: ignore the short coolings after faults (when nothing else is left)."""
        if self.disabled or self.state in _DEAD_STATES:
            return False
        if self.state in _TIMED_STATES and self.state_until > now:
            return False
        cd = self.cooldowns
        if cd and (cd.get(ACCOUNT_WIDE, 0.0) > now or cd.get(model, 0.0) > now):
            return False
        fd = self.fault_cooldowns
        if fd and not faults_ok and (fd.get(ACCOUNT_WIDE, 0.0) > now or fd.get(model, 0.0) > now):
            return False
        q = self.quota.get(model)
        return q is None or not q.exhausted(now)

    def effective_state(self, now: float) -> AccountState:
        """The state to show a person: disabled wins, timed states expire."""
        if self.disabled:
            return AccountState.DISABLED
        if self.state in _TIMED_STATES:
            if self.state_until > now:
                return self.state
        elif self.state is not AccountState.ACTIVE:
            return self.state
        if self.cooldowns.get(ACCOUNT_WIDE, 0.0) > now:
            return AccountState.COOLING
        return AccountState.ACTIVE

    def prune_cooldowns(self, now: float) -> None:
        """Drop expired cooldowns so the dict stays tiny."""
        if self.cooldowns:
            self.cooldowns = {m: t for m, t in self.cooldowns.items() if t > now}
        if self.fault_cooldowns:
            self.fault_cooldowns = {m: t for m, t in self.fault_cooldowns.items() if t > now}

    # -- serialisation -----------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """Everything, secrets included: for the 0600 account file and the export."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "label": self.label,
            "name": self.name,
            "email": self.email,
            "refresh_token": self.refresh_token,
            "access_token": self.access_token,
            "token_expiry": self.token_expiry,
            "project_id": self.project_id,
            "api_key": self.api_key,
            "disabled": self.disabled,
            "state": self.state.value,
            "state_reason": self.state_reason,
            "state_until": self.state_until,
            "validation_url": self.validation_url,
            "cooldowns": dict(self.cooldowns),
            "quota": {m: q.to_json() for m, q in self.quota.items()},
            "quota_fetched_at": self.quota_fetched_at,
            "catalogue": None if self.catalogue is None else self.catalogue.to_json(),
            "last_used": self.last_used,
            "requests": self.requests,
            "errors": self.errors,
            "created_at": self.created_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Account:
        """Raises ValueError/KeyError/TypeError on data that is not an account."""
        if not isinstance(data, dict):
            raise TypeError("account data is not an object")
        kind = AccountKind(data["kind"])
        api_key = str(data.get("api_key") or "")
        email = str(data.get("email") or "")
        name = str(data.get("name") or "")
        label = name or str(data.get("label") or default_label(kind, email, api_key))
        try:
            state = AccountState(data.get("state") or "active")
        except ValueError:
            state = AccountState.ACTIVE  # a state from a newer version: start over
        quota_raw = data.get("quota") or {}
        return cls(
            id=str(data.get("id") or new_account_id()),
            kind=kind,
            label=label,
            email=email,
            name=name,
            refresh_token=str(data.get("refresh_token") or ""),
            access_token=str(data.get("access_token") or ""),
            token_expiry=float(data.get("token_expiry") or 0.0),
            project_id=str(data.get("project_id") or ""),
            api_key=api_key,
            disabled=bool(data.get("disabled", False)),
            state=state,
            state_reason=str(data.get("state_reason") or ""),
            state_until=float(data.get("state_until") or 0.0),
            validation_url=str(data.get("validation_url") or ""),
            cooldowns={str(k): float(v) for k, v in (data.get("cooldowns") or {}).items()},
            quota={
                str(m): QuotaInfo.from_json(q) for m, q in quota_raw.items() if isinstance(q, dict)
            },
            quota_fetched_at=float(data.get("quota_fetched_at") or 0.0),
            catalogue=Catalogue.from_json(data.get("catalogue")),
            last_used=float(data.get("last_used") or 0.0),
            requests=int(data.get("requests") or 0),
            errors=int(data.get("errors") or 0),
            created_at=float(data.get("created_at") or time.time()),
        )

    def public_view(self, now: float | None = None) -> dict[str, Any]:
        """What the TUI, CLI and logs may show: no token, no key."""
        now = time.time() if now is None else now
        return {
            "id": self.id,
            "kind": self.kind.value,
            "label": self.label,
            "name": self.name,
            "email": self.email,
            "project_id": self.project_id,
            "disabled": self.disabled,
            "state": self.effective_state(now).value,
            "state_reason": self.state_reason,
            "state_until": self.state_until,
            "validation_url": self.validation_url,
            "cooldowns": {m: t for m, t in self.cooldowns.items() if t > now},
            "quota": {m: q.to_json() for m, q in self.quota.items()},
            "quota_fetched_at": self.quota_fetched_at,
            # the whole catalogue (no secret in it), so an attached TUI sees what serve sees
            "catalogue": None if self.catalogue is None else {
                **self.catalogue.to_json(),
                "offered": sorted(self.offered()),
                "internal": sorted(m for m, e in self.catalogue.models.items() if e.internal),
            },
            "unavailable": sorted(self.unavailable),
            "fault_cooldowns": {m: t for m, t in self.fault_cooldowns.items() if t > now},
            "last_used": self.last_used,
            "requests": self.requests,
            "errors": self.errors,
            "created_at": self.created_at,
            "has_refresh_token": bool(self.refresh_token),
            "token_expiry": self.token_expiry,
        }


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
