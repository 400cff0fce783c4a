"""Helpers for the monitor tests: client captures and one request cycle."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxy import jsoncodec
from proxy.monitor import Monitor, RequestRecord

CLIENTS = Path(__file__).resolve().parents[2] / "fixtures" / "clients"


@dataclass
class Capture:
    method: str
    raw_path: str
    headers: dict[str, str]
    body: bytes


def load_capture(folder: str) -> Capture:
    """The first request a real client sent in scenario `folder`."""
    path = min((CLIENTS / folder).glob("*.json"))
    data: dict[str, Any] = jsoncodec.loads(path.read_bytes())
    body = data.get("body")
    raw = (
        body.encode()
        if isinstance(body, str)
        else (jsoncodec.dumps(body) if body is not None else b"")
    )
    return Capture(data["method"], data.get("raw_path") or data["path"], dict(data["headers"]), raw)


def begin_request(
    monitor: Monitor,
    *,
    method: str = "POST",
    path: str = "/p",
    protocol: str = "openai",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> RequestRecord:
    """An in-flight record, begun the way the edge middleware begins one."""
    return monitor.begin(
        method=method,
        path=path,
        protocol=protocol,
        client="c",
        user_agent="u",
        headers=headers if headers is not None else {},
        body=body,
    )


def run_request(
    monitor: Monitor,
    *,
    status: int = 200,
    path: str = "/v1/chat/completions",
    protocol: str = "openai",
    headers: dict[str, str] | None = None,
    body: bytes | None = b'{"model":"m"}',
    response_body: bytes | None = b'{"ok":true}',
    error: str = "",
    **fields: Any,
) -> RequestRecord:
    """One begin/finish cycle the way the middleware and handlers drive it."""
    record = monitor.begin(
        method="POST",
        path=path,
        protocol=protocol,
        client="127.0.0.1",
        user_agent="test-client/1.0",
        headers=headers or {"Content-Type": "application/json"},
        body=body,
    )
    for name, value in fields.items():
        setattr(record, name, value)
    monitor.finish(record, status=status, response_body=response_body, error=error)
    return record
