"""One monitored request (SPEC §11): the record handlers fill in, and its SQLite / JSON shapes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from proxy import jsoncodec


@dataclass(slots=True)
class Attempt:
    """One try against one upstream account (failover makes several)."""

    account: str
    status: int
    ms: int
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"account": self.account, "status": self.status, "ms": self.ms, "error": self.error}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Attempt:
        return cls(
            str(d.get("account", "")),
            int(d.get("status", 0)),
            int(d.get("ms", 0)),
            str(d.get("error", "")),
        )


# SQLite column order; `seq` (the table's rowid, insertion order) is not part of a record.
COLUMNS: tuple[str, ...] = (
    "id",
    "started",
    "client",
    "user_agent",
    "method",
    "path",
    "protocol",
    "client_model",
    "upstream_model",
    "account",
    "upstream_kind",
    "status",
    "duration_ms",
    "ttfb_ms",
    "stream",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "attempts",
    "error",
    "request_headers",
    "request_body",
    "response_body",
    "response_summary",
    "thinking_tokens",
    "client_key",
    "mapping_rule",
)


@dataclass(slots=True)
class RequestRecord:
    """Everything the monitor knows about one proxied request.

    Created by `Monitor.begin()` (status 0 = in flight), filled in by handlers and the
    dispatcher, completed by `Monitor.finish()`. Text fields hold redacted values only.
    """

    id: int
    started: float  # epoch seconds
    client: str = ""  # remote address
    user_agent: str = ""
    method: str = ""
    path: str = ""  # with the query string, secrets redacted
    protocol: str = ""  # openai | anthropic | gemini
    client_model: str = ""
    upstream_model: str = ""
    mapping_rule: str = ""  # how upstream_model was chosen (SPEC §9: proxy.routing.Resolution.rule)
    account: str = ""  # label of the account that answered (last attempt)
    upstream_kind: str = ""  # antigravity | gemini_api | zai
    status: int = 0  # 0 while in flight
    duration_ms: float = 0.0
    ttfb_ms: float | None = None  # first byte to the client; None when none was sent
    stream: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    thinking_tokens: int = 0  # part of output_tokens
    client_key: str = ""  # the client key's NAME (SPEC §19), never the key; "" = owner key / none
    attempts: list[Attempt] = field(default_factory=list)
    error: str = ""
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: str = ""
    response_body: str = ""
    response_summary: dict[str, Any] | None = None  # consolidated stream result (set by handlers)
    # monotonic clock at begin(): durations must not jump with the wall clock
    t0: float = field(default=0.0, repr=False, compare=False)
    # the raw request body until finish() decides whether to capture it (never stored)
    raw_body: bytes | None = field(default=None, repr=False, compare=False)
    # the whole request body's size when raw_body is only its head (large bodies)
    raw_body_size: int = field(default=0, repr=False, compare=False)

    @property
    def in_flight(self) -> bool:
        return self.status == 0

    @property
    def is_error(self) -> bool:
        return self.status >= 400 or bool(self.error)

    @property
    def model(self) -> str:
        """The model to show and total by: what was actually served, else what was asked."""
        return self.upstream_model or self.client_model

    def mark_first_byte(self) -> None:
        """Called when the first byte goes to the client; only the first call counts."""
        if self.ttfb_ms is None:
            self.ttfb_ms = round((time.monotonic() - self.t0) * 1000.0, 1)

    def elapsed_ms(self) -> float:
        return round((time.monotonic() - self.t0) * 1000.0, 1)

    # -- SQLite ------------------------------------------------------------------------

    def to_row(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.started,
            self.client,
            self.user_agent,
            self.method,
            self.path,
            self.protocol,
            self.client_model,
            self.upstream_model,
            self.account,
            self.upstream_kind,
            self.status,
            self.duration_ms,
            self.ttfb_ms,
            int(self.stream),
            self.input_tokens,
            self.output_tokens,
            self.cached_tokens,
            jsoncodec.dumps([a.to_dict() for a in self.attempts]).decode() if self.attempts else "",
            self.error,
            jsoncodec.dumps(self.request_headers).decode() if self.request_headers else "",
            self.request_body,
            self.response_body,
            jsoncodec.dumps(self.response_summary).decode()
            if self.response_summary is not None
            else None,
            self.thinking_tokens,
            self.client_key,
            self.mapping_rule,
        )

    @classmethod
    def from_row(cls, row: Any) -> RequestRecord:
        """From a row in COLUMNS order (a tuple or sqlite3.Row)."""
        (
            rid,
            started,
            client,
            ua,
            method,
            path,
            protocol,
            cmodel,
            umodel,
            account,
            kind,
            status,
            duration,
            ttfb,
            stream,
            tin,
            tout,
            tcached,
            attempts,
            error,
            headers,
            req_body,
            resp_body,
            summary,
            thinking,
            client_key,
            rule,
        ) = tuple(row)
        return cls(
            id=int(rid),
            started=float(started),
            client=client or "",
            user_agent=ua or "",
            method=method or "",
            path=path or "",
            protocol=protocol or "",
            client_model=cmodel or "",
            upstream_model=umodel or "",
            account=account or "",
            upstream_kind=kind or "",
            status=int(status or 0),
            duration_ms=float(duration or 0.0),
            ttfb_ms=None if ttfb is None else float(ttfb),
            stream=bool(stream),
            input_tokens=int(tin or 0),
            output_tokens=int(tout or 0),
            cached_tokens=int(tcached or 0),
            attempts=[Attempt.from_dict(a) for a in jsoncodec.loads(attempts)] if attempts else [],
            error=error or "",
            request_headers=jsoncodec.loads(headers) if headers else {},
            request_body=req_body or "",
            response_body=resp_body or "",
            response_summary=jsoncodec.loads(summary) if summary else None,
            thinking_tokens=int(thinking or 0),
            client_key=client_key or "",
            mapping_rule=rule or "",
        )

    # -- JSON (agproxy logs --json, TUI copy) -------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "started": self.started,
            "client": self.client,
            "user_agent": self.user_agent,
            "method": self.method,
            "path": self.path,
            "protocol": self.protocol,
            "client_model": self.client_model,
            "upstream_model": self.upstream_model,
            "mapping_rule": self.mapping_rule,
            "account": self.account,
            "upstream_kind": self.upstream_kind,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "ttfb_ms": self.ttfb_ms,
            "stream": self.stream,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "thinking_tokens": self.thinking_tokens,
            "client_key": self.client_key,
            "attempts": [a.to_dict() for a in self.attempts],
            "error": self.error,
            "request_headers": self.request_headers,
            "request_body": self.request_body,
            "response_body": self.response_body,
            "response_summary": self.response_summary,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RequestRecord:
        """From `to_dict()` (the control socket's record stream)."""
        return cls.from_row(
            tuple(
                jsoncodec.dumps(v).decode()
                if k in _JSON_COLUMNS and v not in (None, "", [], {})
                else (None if k in _JSON_COLUMNS else v)
                for k, v in ((k, d.get(k)) for k in COLUMNS)
            )
        )


_JSON_COLUMNS = frozenset({"attempts", "request_headers", "response_summary"})

