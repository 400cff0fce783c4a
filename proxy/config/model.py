"""The typed config model of SPEC §1: defaults, validation and dotted-key access."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass, field
from typing import Any

from proxy.redact import mask_secret

AUTH_MODES = ("off", "strict", "all_except_health", "auto")
SCHEDULING_MODES = ("cache_first", "balance", "performance_first")
CAPTURE_MODES = ("off", "errors", "all")
ZAI_DISPATCH_MODES = ("off", "exclusive", "pooled", "fallback")

DEFAULT_ANTIGRAVITY_ENDPOINTS = (
    "https://daily-cloudcode-pa.sandbox.googleapis.com/v1internal",
    "https://daily-cloudcode-pa.googleapis.com/v1internal",
    "https://cloudcode-pa.googleapis.com/v1internal",
)
# The reference app's public installed-app OAuth client: tokens imported from it
# only refresh with the client that minted them (SPEC §6.1).
DEFAULT_OAUTH_CLIENT_ID = "1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com"
DEFAULT_OAUTH_CLIENT_SECRET = "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"

DEFAULT_OAUTH_REDIRECT_PORT = 51121

SECRET_KEYS = frozenset({"proxy.api_key", "zai.api_key", "upstream.oauth_client_secret"})


class ConfigError(ValueError):
    """A config problem, worded for the user: names the key (or file, line, column)."""


def generate_api_key() -> str:
    return "sk-" + secrets.token_hex(16)


# The one API key rule (SPEC §1), for the TUI form and `agproxy config set` alike:
# `sk-` and at least API_KEY_MIN characters or it is refused (the field's check);
# shorter than API_KEY_WEAK_BELOW it is accepted with a warning (generated keys: 35).
API_KEY_MIN = 10
API_KEY_WEAK_BELOW = 20


def api_key_warning(key: str) -> str | None:
    """Why a valid proxy.api_key is still a poor one, or None."""
    if len(key) >= API_KEY_WEAK_BELOW:
        return None
    return (
        f"proxy.api_key is only {len(key)} characters, easy to guess; a generated key "
        "(35 characters) is safer: ^g in the TUI Settings, or "
        "`agproxy config set proxy.api_key sk-$(openssl rand -hex 16)`"
    )


def preferred_account_warning(value: str, accounts: Any) -> str | None:
    """scheduling.preferred_account names no account (matched as the pool matches:
    id, label, email or id prefix): a warning, not a refusal, as the account may be
    added later; until then the pool schedules as if it were empty."""
    if not value:
        return None
    from proxy.accounts.store import find_account

    accounts = list(accounts)
    if find_account(value, accounts) is not None:
        return None
    names = [a.label or a.email or a.id for a in accounts]
    known = "there are no accounts yet"
    if names:
        known = "accounts: " + ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
    return f"no account matches {value!r} (an id, label or email; {known}); ignored until one does"


def _rule(allowed: str, check=None, choices: tuple[str, ...] | None = None, lo=None, hi=None):
    return {"allowed": allowed, "check": check, "choices": choices, "lo": lo, "hi": hi}


@dataclass
class ProxySettings:
    port: int = field(default=8045, metadata=_rule("an integer 1024-65535", lo=1024, hi=65535))
    allow_lan_access: bool = field(default=False, metadata=_rule("true or false"))
    auth_mode: str = field(default="auto", metadata=_rule(" | ".join(AUTH_MODES), choices=AUTH_MODES))
    api_key: str = field(
        default_factory=generate_api_key,
        metadata=_rule(
            f"a string starting with 'sk-', at least {API_KEY_MIN} characters",
            check=lambda v: v.startswith("sk-") and len(v) >= API_KEY_MIN,
        ),
    )
    request_timeout: int = field(default=120, metadata=_rule("seconds, 30-7200", lo=30, hi=7200))
    auto_start: bool = field(default=False, metadata=_rule("true or false"))
    max_body_mb: int = field(default=100, metadata=_rule("megabytes, 1-2048", lo=1, hi=2048))


@dataclass
class SchedulingSettings:
    mode: str = field(
        default="balance", metadata=_rule(" | ".join(SCHEDULING_MODES), choices=SCHEDULING_MODES)
    )
    sticky_ttl: int = field(default=3600, metadata=_rule("seconds, 0-604800", lo=0, hi=604800))
    preferred_account: str = field(default="", metadata=_rule("an account id, label or email; empty for none"))


@dataclass
class UpstreamSettings:
    antigravity_endpoints: list[str] = field(
        default_factory=lambda: list(DEFAULT_ANTIGRAVITY_ENDPOINTS),
        metadata=_rule(
            "a non-empty list of http(s) URLs",
            check=lambda v: bool(v) and all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in v),
        ),
    )
    oauth_token_url: str = field(
        default="https://oauth2.googleapis.com/token", metadata=_rule("an http(s) URL", check=lambda v: v.startswith(("http://", "https://")))
    )
    oauth_userinfo_url: str = field(
        default="https://www.googleapis.com/oauth2/v2/userinfo",
        metadata=_rule("an http(s) URL", check=lambda v: v.startswith(("http://", "https://"))),
    )
    oauth_client_id: str = field(default=DEFAULT_OAUTH_CLIENT_ID, metadata=_rule("a string"))
    oauth_client_secret: str = field(default=DEFAULT_OAUTH_CLIENT_SECRET, metadata=_rule("a string"))
    # The browser login's local redirect listener: one fixed port, so one `ssh -L` tunnel
    # keeps working from login to login (0: a free port each time).
    oauth_redirect_port: int = field(
        default=DEFAULT_OAUTH_REDIRECT_PORT,
        metadata=_rule("0 (a free port each time) or a port 1024-65535",
                       check=lambda v: v == 0 or 1024 <= v <= 65535),
    )
    gemini_base_url: str = field(
        default="https://generativelanguage.googleapis.com",
        metadata=_rule("an http(s) URL", check=lambda v: v.startswith(("http://", "https://"))),
    )
    proxy_url: str = field(
        default="",
        metadata=_rule(
            "empty, or an http://, https://, socks5:// or socks5h:// URL",
            check=lambda v: v == "" or v.startswith(("http://", "https://", "socks5://", "socks5h://")),
        ),
    )
    user_agent: str = field(
        default="", metadata=_rule('a string: empty for the current Antigravity client, "auto" to follow version_url')
    )
    version_url: str = field(
        default="https://antigravity-auto-updater-974169037036.us-central1.run.app",
        metadata=_rule("an http(s) URL", check=lambda v: v.startswith(("http://", "https://"))),
    )


@dataclass
class ZaiModels:
    opus: str = field(default="glm-4.7", metadata=_rule("a model name", check=bool))
    sonnet: str = field(default="glm-4.7", metadata=_rule("a model name", check=bool))
    haiku: str = field(default="glm-4.5-air", metadata=_rule("a model name", check=bool))


@dataclass
class ZaiSettings:
    enabled: bool = field(default=False, metadata=_rule("true or false"))
    base_url: str = field(
        default="https://api.z.ai/api/anthropic",
        metadata=_rule("an http(s) URL", check=lambda v: v.startswith(("http://", "https://"))),
    )
    api_key: str = field(default="", metadata=_rule("a string"))
    dispatch_mode: str = field(
        default="off", metadata=_rule(" | ".join(ZAI_DISPATCH_MODES), choices=ZAI_DISPATCH_MODES)
    )
    models: ZaiModels = field(default_factory=ZaiModels)


@dataclass
class MonitorSettings:
    enabled: bool = field(default=True, metadata=_rule("true or false"))
    capture_bodies: str = field(default="errors", metadata=_rule(" | ".join(CAPTURE_MODES), choices=CAPTURE_MODES))
    max_body_kb: int = field(default=256, metadata=_rule("kilobytes, 1-65536", lo=1, hi=65536))
    retention_days: int = field(default=30, metadata=_rule("days, 1-3650", lo=1, hi=3650))
    max_records: int = field(default=100000, metadata=_rule("records, 100-10000000", lo=100, hi=10_000_000))
    # hourly usage rollups (SPEC §18) outlive the raw records
    stats_retention_days: int = field(default=400, metadata=_rule("days, 1-3650", lo=1, hi=3650))


def resolve_auth_mode(mode: str, *, lan: bool) -> str:
    """The one place `auto` is decided: `all_except_health` with LAN access on, else
    `off` (SPEC §1). `lan` is the LAN state that applies: the bound one while serving."""
    if mode == "auto":
        return "all_except_health" if lan else "off"
    return mode


@dataclass
class Config:
    proxy: ProxySettings = field(default_factory=ProxySettings)
    scheduling: SchedulingSettings = field(default_factory=SchedulingSettings)
    model_mapping: dict[str, str] = field(default_factory=dict)
    upstream: UpstreamSettings = field(default_factory=UpstreamSettings)
    zai: ZaiSettings = field(default_factory=ZaiSettings)
    monitor: MonitorSettings = field(default_factory=MonitorSettings)

    @property
    def effective_auth_mode(self) -> str:
        """The auth mode this file asks for, with its own LAN setting (a running proxy
        follows the LAN state it is bound with: `ProxyContext.auth_mode`)."""
        return resolve_auth_mode(self.proxy.auth_mode, lan=self.proxy.allow_lan_access)

    @property
    def zai_dispatch_on(self) -> bool:
        return self.zai.enabled and self.zai.dispatch_mode != "off"

    @property
    def bind_host(self) -> str:
        return "0.0.0.0" if self.proxy.allow_lan_access else "127.0.0.1"

    # -- conversions ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build and validate from plain data (parsed TOML); unknown keys are ignored
        here (the store keeps them in the file). Raises ConfigError."""
        cfg = cls()
        for section, value in data.items():
            if section == "model_mapping":
                cfg.model_mapping = _mapping(value)
            elif hasattr(cfg, section) and isinstance(value, dict):
                _fill(getattr(cfg, section), value, section)
        return cfg

    def get(self, dotted: str) -> Any:
        if dotted.startswith("model_mapping."):  # client model names may hold dots
            return self.model_mapping.get(dotted.removeprefix("model_mapping."), "")
        obj: Any = self
        for part in dotted.split("."):
            if isinstance(obj, dict):
                obj = obj[part]
            elif dataclasses.is_dataclass(obj) and part in {f.name for f in dataclasses.fields(obj)}:
                obj = getattr(obj, part)
            else:
                raise ConfigError(f"unknown config key {dotted!r}")
        return obj

    def with_value(self, dotted: str, value: Any) -> Config:
        """A copy with one key changed and validated. `value` may be a typed value or
        the text a user typed (`"9000"`, `"true"`, `'["http://a"]'`)."""
        data = self.to_dict()
        if dotted.startswith("model_mapping."):
            # The client model is everything after the prefix (names like claude-3.5-sonnet
            # hold dots); an empty target removes the entry.
            client_model = dotted.removeprefix("model_mapping.")
            if value == "":
                data["model_mapping"].pop(client_model, None)
            else:
                data["model_mapping"][client_model] = value
            return Config.from_dict(data)
        parts = dotted.split(".")
        if parts[0] == "model_mapping" and len(parts) == 1:
            data["model_mapping"] = _parse_text(value, dict) if isinstance(value, str) else value
            return Config.from_dict(data)
        target = data
        obj: Any = self
        for part in parts[:-1]:
            if not (dataclasses.is_dataclass(obj) and part in {f.name for f in dataclasses.fields(obj)}):
                raise ConfigError(f"unknown config key {dotted!r}")
            obj = getattr(obj, part)
            target = target[part]
        fields = {f.name: f for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else {}
        f = fields.get(parts[-1])
        if f is None or dataclasses.is_dataclass(getattr(obj, parts[-1])):
            raise ConfigError(f"unknown config key {dotted!r}")
        if isinstance(value, str) and f.type != "str":
            value = _parse_text(value, type(getattr(obj, parts[-1])), dotted, f.metadata.get("allowed", ""))
        target[parts[-1]] = value
        return Config.from_dict(data)


def config_keys() -> list[str]:
    """Every settable dotted key, in file order (for `config set` help and the TUI)."""
    keys: list[str] = []

    def walk(obj: Any, prefix: str) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, f"{prefix}{f.name}.")
            else:
                keys.append(prefix + f.name)

    walk(Config(), "")
    return keys


def allowed_values(dotted: str) -> str:
    section, _, name = dotted.rpartition(".")
    obj = Config().get(section) if section else Config()
    for f in dataclasses.fields(obj):
        if f.name == name:
            return f.metadata.get("allowed", "")
    return ""


def _bad(key: str, value: Any, allowed: str) -> ConfigError:
    """The one refusal message; a secret key's attempted value is masked (it may be a
    real key mistyped), as the CLI and the TUI's Settings both show this text."""
    shown = repr(value)
    if key in SECRET_KEYS:
        shown = mask_secret(str(value)) or "''"
    return ConfigError(f"invalid value for {key}: {shown} (allowed: {allowed})")


def _fill(obj: Any, data: dict[str, Any], prefix: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(obj)}
    for name, value in data.items():
        f = fields.get(name)
        if f is None:
            continue  # unknown key: kept in the file, ignored by the model
        key = f"{prefix}.{name}"
        current = getattr(obj, name)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise _bad(key, value, "a table")
            _fill(current, value, key)
            continue
        setattr(obj, name, _check(key, value, current, f.metadata))


def _check(key: str, value: Any, default: Any, rule: Any) -> Any:
    allowed = rule.get("allowed", "")
    expected = type(default)
    if hasattr(value, "unwrap"):  # tomlkit items
        value = value.unwrap()
    if expected is bool:
        if not isinstance(value, bool):
            raise _bad(key, value, allowed)
    elif expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(key, value, allowed)
    elif expected is list:
        if not isinstance(value, list):
            raise _bad(key, value, allowed)
        value = list(value)
    elif not isinstance(value, expected):
        raise _bad(key, value, allowed)
    if rule.get("lo") is not None and value < rule["lo"]:
        raise _bad(key, value, allowed)
    if rule.get("hi") is not None and value > rule["hi"]:
        raise _bad(key, value, allowed)
    if rule.get("choices") and value not in rule["choices"]:
        raise _bad(key, value, allowed)
    if rule.get("check") and not rule["check"](value):
        raise _bad(key, value, allowed)
    return value


def _mapping(value: Any) -> dict[str, str]:
    if hasattr(value, "unwrap"):
        value = value.unwrap()
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()):
        raise _bad("model_mapping", value, "a table of client model (may use *) = upstream model")
    return dict(value)


def _parse_text(text: str, expected: type, key: str = "", allowed: str = "") -> Any:
    """Turn what a user typed on the command line into a typed value."""
    if expected is str:
        return text
    if expected is bool:
        low = text.strip().lower()
        if low in ("true", "yes", "on", "1"):
            return True
        if low in ("false", "no", "off", "0"):
            return False
        raise _bad(key, text, allowed)
    if expected is int:
        try:
            return int(text.strip())
        except ValueError:
            raise _bad(key, text, allowed) from None
    if expected in (list, dict):
        import json

        try:
            value = json.loads(text)
        except ValueError:
            raise _bad(key, text, allowed or ("a JSON list" if expected is list else "a JSON object")) from None
        if not isinstance(value, expected):
            raise _bad(key, text, allowed)
        return value
    return text
