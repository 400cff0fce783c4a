"""The request filter language shared by the TUI and `agproxy logs` (SPEC §11, §12).

    id:1768471200123456 (the X-Agproxy-Request-Id; a bare id works too)
    status:4xx  status:429  model:gemini*  account:alice  key:alice  protocol:anthropic
    path:/v1/messages  method:POST  kind:antigravity  errors  is:error  is:stream
    is:inflight  since:10m  since:2026-11-25T10:00  until:…  -term (negate)  words

Terms AND together. Values with `*`/`?` are whole-value globs; other values match as
substrings. Matching is ASCII case-insensitive. Every term compiles both to a Python
predicate (live filtering) and to SQL (the store); both must agree on every record.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from proxy.errors import Protocol
from proxy.monitor.record import RequestRecord

KEYS = ("id", "status", "model", "account", "key", "protocol", "path", "method", "kind", "is", "since", "until")
PROTOCOLS = tuple(p.value for p in Protocol)  # the one list: proxy.errors.Protocol
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_KEY_RE = re.compile(r"^(-?)([A-Za-z_]+):(.*)$", re.DOTALL)


class FilterError(ValueError):
    """A filter the user typed does not parse; the message says why."""


@dataclass(frozen=True)
class Term:
    text: str  # as typed, for display
    pred: Callable[[RequestRecord], bool]
    sql: str
    params: tuple[Any, ...] = ()


@dataclass(frozen=True)
class RecordFilter:
    text: str = ""
    terms: tuple[Term, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not self.terms

    def matches(self, record: RequestRecord) -> bool:
        for term in self.terms:
            if not term.pred(record):
                return False
        return True

    def to_sql(self) -> tuple[str, list[Any]]:
        """A WHERE expression over the `requests` table and its parameters."""
        if not self.terms:
            return "1", []
        params: list[Any] = []
        for term in self.terms:
            params.extend(term.params)
        return " AND ".join(f"({t.sql})" for t in self.terms), params


def parse_filter(text: str, now: float | None = None) -> RecordFilter:
    """Parse a filter expression; raises FilterError with a message for the user."""
    try:
        words = shlex.split(text or "")
    except ValueError as exc:
        raise FilterError(f"bad filter: {exc}") from None
    now = time.time() if now is None else now
    terms = tuple(_term(w, now) for w in words if w)
    return RecordFilter(text=text or "", terms=terms)


def _term(word: str, now: float) -> Term:
    m = _KEY_RE.match(word)
    negate = False
    if m:
        negate, key, value = bool(m.group(1)), m.group(2).lower(), m.group(3)
        if key not in KEYS:
            raise FilterError(
                f"unknown filter key {key!r} (known: {', '.join(KEYS)}, errors, or plain words)"
            )
        if not value:
            raise FilterError(f"filter {key}: needs a value, e.g. {_EXAMPLES[key]}")
        term = _KEYED[key](value, now)
    else:
        if word.startswith("-") and len(word) > 1:
            negate, word = True, word[1:]
        if word.lower() == "errors":
            term = _is("error", now)
        elif word.isdigit() and len(word) >= 10:  # a request id (X-Agproxy-Request-Id)
            term = _id(word, now)
        else:
            term = _text(word)
    if negate:
        pred = term.pred
        return Term("-" + term.text, lambda r: not pred(r), f"NOT ({term.sql})", term.params)
    return Term(word, term.pred, term.sql, term.params)


# -- string matching: LIKE in SQL, an equivalent regex in Python ------------------------


def _like_and_regex(value: str, glob: bool) -> tuple[str, re.Pattern[str]]:
    like, rx = [], []
    for ch in value:
        if glob and ch == "*":
            like.append("%")
            rx.append(".*")
        elif glob and ch == "?":
            like.append("_")
            rx.append(".")
        else:
            like.append("\\" + ch if ch in "%_\\" else ch)
            rx.append(re.escape(ch))
    if not glob:
        return "%" + "".join(like) + "%", re.compile(
            ".*" + "".join(rx) + ".*", re.IGNORECASE | re.ASCII | re.DOTALL
        )
    return "".join(like), re.compile("".join(rx), re.IGNORECASE | re.ASCII | re.DOTALL)


def _match_columns(text: str, columns: tuple[str, ...], value: str) -> Term:
    glob = "*" in value or "?" in value
    like, rx = _like_and_regex(value, glob)
    full = rx.fullmatch
    getters = [_GETTERS[c] for c in columns]
    sql = " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns)
    return Term(text, lambda r: any(full(g(r)) for g in getters), sql, (like,) * len(columns))


_GETTERS: dict[str, Callable[[RequestRecord], str]] = {
    "path": lambda r: r.path,
    "client_model": lambda r: r.client_model,
    "upstream_model": lambda r: r.upstream_model,
    "account": lambda r: r.account,
    "client_key": lambda r: r.client_key,
    "error": lambda r: r.error,
    "method": lambda r: r.method,
    "upstream_kind": lambda r: r.upstream_kind,
}


def _text(word: str) -> Term:
    return _match_columns(
        word, ("path", "client_model", "upstream_model", "account", "error"), word
    )


# -- keyed terms ----------------------------------------------------------------------


def _status(value: str, now: float) -> Term:
    v = value.lower()
    if re.fullmatch(r"[1-5]xx", v):
        lo = int(v[0]) * 100
        return Term(
            f"status:{v}",
            lambda r: lo <= r.status < lo + 100,
            "status >= ? AND status < ?",
            (lo, lo + 100),
        )
    if v.isdigit():
        code = int(v)
        return Term(f"status:{code}", lambda r: r.status == code, "status = ?", (code,))
    raise FilterError(f"filter status: expects a code or class like 429, 4xx, 2xx — got {value!r}")


def _id(value: str, now: float) -> Term:
    if not value.isdigit():
        raise FilterError(f"filter id: expects a request id (digits) — got {value!r}")
    rid = int(value)
    return Term(f"id:{rid}", lambda r: r.id == rid, "id = ?", (rid,))


def _is(value: str, now: float) -> Term:
    v = value.lower()
    if v in ("error", "errors"):
        return Term(
            "errors", lambda r: r.status >= 400 or bool(r.error), "status >= 400 OR error != ''"
        )
    if v == "stream":
        return Term("is:stream", lambda r: r.stream, "stream = 1")
    if v in ("inflight", "in-flight", "pending"):
        return Term("is:inflight", lambda r: r.status == 0, "status = 0")
    raise FilterError(f"filter is: expects error, stream or inflight — got {value!r}")


def _protocol(value: str, now: float) -> Term:
    v = value.lower()
    if v not in PROTOCOLS:
        raise FilterError(f"filter protocol: expects one of {', '.join(PROTOCOLS)} — got {value!r}")
    return Term(f"protocol:{v}", lambda r: r.protocol == v, "protocol = ?", (v,))


def _time(key: str) -> Callable[[str, float], Term]:
    def build(value: str, now: float) -> Term:
        at = parse_time(value, now)
        if key == "since":
            return Term(f"since:{value}", lambda r: r.started >= at, "started >= ?", (at,))
        return Term(f"until:{value}", lambda r: r.started < at, "started < ?", (at,))

    return build


def parse_time(value: str, now: float) -> float:
    """`10m`, `2h`, `3d` ago, or an ISO date/time (local time unless it has an offset)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhdw])", value.strip().lower())
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        return datetime.fromisoformat(value.strip()).timestamp()
    except ValueError:
        raise FilterError(
            f"bad time {value!r}: use a duration like 10m, 2h, 3d or a date like 2026-11-25T10:00"
        ) from None


def _column(key: str, columns: tuple[str, ...]) -> Callable[[str, float], Term]:
    return lambda value, now: _match_columns(f"{key}:{value}", columns, value)


_KEYED: dict[str, Callable[[str, float], Term]] = {
    "id": _id,
    "status": _status,
    "model": _column("model", ("client_model", "upstream_model")),
    "account": _column("account", ("account",)),
    "key": _column("key", ("client_key",)),
    "protocol": _protocol,
    "path": _column("path", ("path",)),
    "method": _column("method", ("method",)),
    "kind": _column("kind", ("upstream_kind",)),
    "is": _is,
    "since": _time("since"),
    "until": _time("until"),
}

_EXAMPLES = {
    "id": "id:1768471200123456",
    "status": "status:4xx",
    "model": "model:gemini*",
    "account": "account:alice",
    "key": "key:alice",
    "protocol": "protocol:anthropic",
    "path": "path:/v1/messages",
    "method": "method:POST",
    "kind": "kind:antigravity",
    "is": "is:error",
    "since": "since:10m",
    "until": "until:2026-11-25T10:00",
}
