"""Client keys (SPEC §19): one `sk-ag-…` key per person or tool, with limits.

Only a key's SHA-256 is kept (`<data dir>/keys.json`, 0600, written by `agproxy keys` and
the TUI); the running proxy keeps usage (tokens today, last use) in `keys-usage.json`, so
the two writers never overwrite each other. A presented key is found by its hash in a dict
(O(1) per request); a running `serve` re-reads keys.json when it changes.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from proxy import jsoncodec
from proxy.files import write_private_file

log = logging.getLogger(__name__)

KEY_PREFIX = "sk-ag-"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_DURATION = re.compile(r"^(\d+)([hdw])$")
_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400}


class KeyCommandError(ValueError):
    """A keys command that cannot be done; the message says why."""


def hash_key(key: str) -> str:
    # The keys are 32 random bytes: a plain SHA-256 cannot be brute-forced back.
    return hashlib.sha256(key.encode()).hexdigest()


def parse_expiry(text: str, now: float | None = None) -> float:
    """`30d`, `12h`, `2w` from now, or a date (YYYY-MM-DD, local midnight)."""
    now = time.time() if now is None else now
    m = _DURATION.match(text.strip().lower())
    if m:
        return now + int(m.group(1)) * _UNITS[m.group(2)]
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise KeyCommandError(
            f"bad expiry {text!r}: use 30d, 12h, 2w or a date like 2027-01-31"
        ) from None


def next_midnight(now: float) -> float:
    """When today's token budget resets: the next local midnight."""
    d = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return (d + timedelta(days=1)).timestamp()


_DAY: list[Any] = [0.0, 0.0, ""]  # [start, end, "YYYY-MM-DD"] of the local day last asked


def today(now: float) -> str:
    """The local date of `now`; per request this is two comparisons (localtime is slow)."""
    day = _DAY
    if not day[0] <= now < day[1]:
        d = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
        day[:] = [d.timestamp(), next_midnight(now), d.strftime("%Y-%m-%d")]
    return str(day[2])


@dataclass
class ClientKey:
    """One client key: its limits (from keys.json) and its live state (bucket, usage)."""

    name: str
    hash: str
    prefix: str  # the first characters, to recognise a key in a list
    models: list[str] = field(default_factory=list)  # globs; empty = every model
    rpm: int = 0  # requests per minute; 0 = no limit
    tokens_per_day: int = 0  # 0 = no limit
    expires: float = 0.0  # epoch; 0 = never
    created: float = 0.0
    revoked: float = 0.0  # epoch of revocation; 0 = live
    # live state (the running proxy; usage persisted to keys-usage.json)
    tokens_day: str = ""
    tokens_today: int = 0
    last_used: float = 0.0
    bucket: float = -1.0  # token bucket level; -1 = full (not used yet)
    bucket_at: float = 0.0
    _allowed: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)

    def allows_model(self, model: str) -> bool:
        """Whether a glob matches (case-insensitive); memoised per model name."""
        if not self.models:
            return True
        known = self._allowed.get(model)
        if known is None:
            m = model.lower()
            known = any(fnmatch.fnmatchcase(m, g.lower()) for g in self.models)
            if len(self._allowed) < 1000:  # client-chosen names: bounded
                self._allowed[model] = known
        return known

    def take(self, now: float) -> float:
        """Spend one request from the bucket: 0 if allowed, else seconds until one is."""
        if self.rpm <= 0:
            return 0.0
        rate = self.rpm / 60.0
        level = (
            float(self.rpm)
            if self.bucket < 0
            else min(float(self.rpm), self.bucket + (now - self.bucket_at) * rate)
        )
        self.bucket_at = now
        if level >= 1.0:
            self.bucket = level - 1.0
            return 0.0
        self.bucket = level
        return (1.0 - level) / rate

    def used_today(self, now: float) -> int:
        return self.tokens_today if self.tokens_day == today(now) else 0

    def add_tokens(self, n: int, now: float) -> None:
        day = today(now)
        if self.tokens_day != day:
            self.tokens_day, self.tokens_today = day, 0
        self.tokens_today += n

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hash": self.hash,
            "prefix": self.prefix,
            "models": self.models,
            "rpm": self.rpm,
            "tokens_per_day": self.tokens_per_day,
            "expires": self.expires,
            "created": self.created,
            "revoked": self.revoked,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ClientKey:
        return cls(
            name=str(d["name"]),
            hash=str(d["hash"]),
            prefix=str(d.get("prefix", "")),
            models=[str(g) for g in d.get("models") or []],
            rpm=int(d.get("rpm") or 0),
            tokens_per_day=int(d.get("tokens_per_day") or 0),
            expires=float(d.get("expires") or 0),
            created=float(d.get("created") or 0),
            revoked=float(d.get("revoked") or 0),
        )


def describe(k: ClientKey, now: float) -> dict[str, object]:
    """What `agproxy keys list` and the TUI's Stats tab show of a key (no secret)."""
    if k.revoked:
        state = "revoked"
    elif k.expires and now >= k.expires:
        state = "expired"
    else:
        state = "active"
    return {
        "name": k.name,
        "prefix": k.prefix + "…",
        "state": state,
        "models": ",".join(k.models) or "*",
        "rpm": k.rpm or None,
        "tokens_per_day": k.tokens_per_day or None,
        "tokens_today": k.used_today(now),
        "expires": _when(k.expires) if k.expires else None,
        "last_used": _when(k.last_used) if k.last_used else None,
    }


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


class KeyStore:
    """keys.json + keys-usage.json in the data dir. Not thread-safe: the event loop (or a
    CLI process) owns it."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "keys.json"
        self.usage_path = Path(data_dir) / "keys-usage.json"
        self.by_hash: dict[str, ClientKey] = {}
        self.by_name: dict[str, ClientKey] = {}
        self._stamp: tuple[int, int] | None = None
        self._usage_dirty = False

    # -- files ----------------------------------------------------------------------------

    def load(self) -> None:
        """(Re-)read keys.json; usage and buckets of keys that stay are kept."""
        self._stamp = self._file_stamp()
        old = self.by_name
        keys: list[ClientKey] = []
        if self.path.exists():
            try:
                data = jsoncodec.loads(self.path.read_bytes())
                keys = [ClientKey.from_json(d) for d in data.get("keys", [])]
            except (ValueError, KeyError, TypeError, OSError) as exc:
                log.error(
                    "client keys file %s cannot be read (%s); keeping the keys loaded",
                    self.path,
                    exc,
                )
                return
        if not old:
            self._load_usage(keys)
        for k in keys:
            prev = old.get(k.name)
            if prev is not None:
                k.tokens_day, k.tokens_today, k.last_used = (
                    prev.tokens_day,
                    prev.tokens_today,
                    prev.last_used,
                )
                k.bucket, k.bucket_at = prev.bucket, prev.bucket_at
        self.by_name = {k.name: k for k in keys}
        self.by_hash = {k.hash: k for k in keys}

    def reload_if_changed(self) -> bool:
        """One stat(); re-reads keys.json when another process (`agproxy keys`) changed it."""
        if self._file_stamp() == self._stamp:
            return False
        self.load()
        return True

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        doc = {"version": 1, "keys": [k.to_json() for k in self.by_name.values()]}
        write_private_file(self.path, jsoncodec.dumps_pretty(doc).encode())
        self._stamp = self._file_stamp()

    def _load_usage(self, keys: list[ClientKey]) -> None:
        try:
            usage = jsoncodec.loads(self.usage_path.read_bytes())
        except (OSError, ValueError):
            return
        for k in keys:
            u = usage.get(k.name) if isinstance(usage, dict) else None
            if isinstance(u, dict):
                k.tokens_day = str(u.get("day", ""))
                k.tokens_today = int(u.get("tokens", 0) or 0)
                k.last_used = float(u.get("last_used", 0) or 0)

    def flush_usage(self) -> None:
        """Write usage (the running proxy, every ~30 s and on stop) when it changed."""
        if not self._usage_dirty:
            return
        self._usage_dirty = False
        doc = {
            k.name: {"day": k.tokens_day, "tokens": k.tokens_today, "last_used": k.last_used}
            for k in self.by_name.values()
        }
        try:
            self.usage_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_private_file(self.usage_path, jsoncodec.dumps(doc))
        except OSError as exc:
            log.error("could not save client key usage: %s", exc)

    # -- the request path -----------------------------------------------------------------

    def find(self, presented: str) -> ClientKey | None:
        if not presented.startswith(KEY_PREFIX):
            return None
        return self.by_hash.get(hash_key(presented))

    def note_used(self, key: ClientKey, now: float) -> None:
        key.last_used = now
        self._usage_dirty = True

    def record_tokens(self, name: str, tokens: int, now: float | None = None) -> None:
        key = self.by_name.get(name)
        if key is not None and tokens:
            key.add_tokens(tokens, time.time() if now is None else now)
            self._usage_dirty = True

    # -- management (CLI, TUI) --------------------------------------------------------------

    def list_keys(self) -> list[ClientKey]:
        return sorted(self.by_name.values(), key=lambda k: k.name)

    def add(
        self,
        name: str,
        *,
        models: list[str] | None = None,
        rpm: int = 0,
        tokens_per_day: int = 0,
        expires: float = 0.0,
    ) -> str:
        """A new key; returns the plaintext key, which is never stored."""
        self.reload_if_changed()
        if not NAME_RE.match(name):
            raise KeyCommandError(f"bad key name {name!r}: letters, digits and _ . @ - (up to 64)")
        if name in self.by_name:
            raise KeyCommandError(f"a key named {name!r} exists; use `agproxy keys rotate {name}`")
        if rpm < 0 or tokens_per_day < 0:
            raise KeyCommandError("limits must be 0 (none) or positive")
        plain = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ClientKey(
            name=name,
            hash=hash_key(plain),
            prefix=plain[:10],
            models=list(models or []),
            rpm=rpm,
            tokens_per_day=tokens_per_day,
            expires=expires,
            created=time.time(),
        )
        self.by_name[name] = key
        self.by_hash[key.hash] = key
        self.save()
        return plain

    def _get(self, name: str) -> ClientKey:
        self.reload_if_changed()
        key = self.by_name.get(name)
        if key is None:
            known = ", ".join(self.by_name) or "none"
            raise KeyCommandError(f"no client key named {name!r} (known: {known})")
        return key

    def revoke(self, name: str) -> None:
        key = self._get(name)
        key.revoked = key.revoked or time.time()
        self.save()

    def rotate(self, name: str) -> str:
        """A new secret for the same name and limits; the old one stops working."""
        key = self._get(name)
        plain = KEY_PREFIX + secrets.token_urlsafe(32)
        self.by_hash.pop(key.hash, None)
        key.hash, key.prefix, key.revoked = hash_key(plain), plain[:10], 0.0
        self.by_hash[key.hash] = key
        self.save()
        return plain

    def remove(self, name: str) -> None:
        key = self._get(name)
        del self.by_name[name]
        self.by_hash.pop(key.hash, None)
        self.save()
