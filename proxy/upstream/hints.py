"""Reading an upstream failure: retry hints and the SPEC §7 classification.

`classify(status, body, headers)` turns any non-2xx upstream reply into one
`UpstreamError` whose `kind` drives the dispatcher and whose `retry_after` is the
best wait the upstream hinted at (seconds).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from proxy import jsoncodec
from proxy.errors import UpstreamError, UpstreamErrorKind

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|s)(?![a-z])", re.IGNORECASE)
_DURATION_FULL = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*(?:ms|h|m|s)\s*)+$", re.IGNORECASE)
# "try again in 5s", "retry after 20 seconds", "Please retry in 31.5s."
_TEXT_HINT = re.compile(
    r"(?:try again|retry)\s+(?:in|after)\s+((?:\d+(?:\.\d+)?\s*(?:ms|milliseconds?|h|hours?|m|min|minutes?|s|secs?|seconds?)?[\s,]*(?:and\s+)?)+)",
    re.IGNORECASE,
)
_TEXT_UNIT = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|milliseconds?|h|hours?|min|minutes?|m|secs?|seconds?|s)?", re.IGNORECASE)
_URL = re.compile(r"https://[^\s\"'<>]+")


def parse_duration(text: str) -> float | None:
    """Google's duration forms: "3.5s", "850ms", "1h2m3.5s"; a bare number is seconds."""
    text = text.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    if not _DURATION_FULL.match(text):
        return None
    total = 0.0
    for num, unit in _DURATION_PART.findall(text):
        total += float(num) * {"ms": 0.001, "h": 3600.0, "m": 60.0, "s": 1.0}[unit.lower()]
    return total


def parse_retry_after_header(value: str, now: float | None = None) -> float | None:
    """`Retry-After`: delta seconds or an HTTP date."""
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def parse_timestamp(value: str, now: float | None = None) -> float | None:
    """Seconds from now until an RFC 3339 timestamp ("2025-01-01T00:00:00Z")."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _text_hint(message: str) -> float | None:
    m = _TEXT_HINT.search(message)
    if not m:
        return None
    total, found = 0.0, False
    for num, unit in _TEXT_UNIT.findall(m.group(1)):
        u = (unit or "s").lower()
        scale = 0.001 if u.startswith(("ms", "milli")) else 3600.0 if u.startswith("h") else 60.0 if u.startswith("m") else 1.0
        total += float(num) * scale
        found = True
    return total if found else None


def _error_obj(body: Any) -> dict[str, Any]:
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]  # some Google front ends wrap the error in a list
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return err
        if isinstance(err, str):
            return {"message": err, "status": err, **{k: v for k, v in body.items() if k != "error"}}
        return body
    return {}


def _details(err: dict[str, Any]) -> list[dict[str, Any]]:
    details = err.get("details")
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def retry_hint(err: dict[str, Any], headers: Mapping[str, str] | None, message: str) -> float | None:
    """The longest wait any hint asks for (seconds), or None when none was given."""
    waits: list[float] = []
    for d in _details(err):
        if isinstance(d.get("retryDelay"), str):
            waits.append(parse_duration(d["retryDelay"]) or 0.0)
        meta = d.get("metadata")
        if isinstance(meta, dict):
            if isinstance(meta.get("quotaResetDelay"), str):
                v = parse_duration(meta["quotaResetDelay"])
                if v is not None:
                    waits.append(v)
            if isinstance(meta.get("quotaResetTimeStamp"), str):
                v = parse_timestamp(meta["quotaResetTimeStamp"])
                if v is not None:
                    waits.append(v)
    if headers is not None:
        ra = headers.get("Retry-After") or headers.get("retry-after")
        if ra:
            v = parse_retry_after_header(ra)
            if v is not None:
                waits.append(v)
    if not waits:
        v = _text_hint(message)
        if v is not None:
            waits.append(v)
    return max(waits) if waits else None


def _reasons(err: dict[str, Any]) -> set[str]:
    out = {str(d.get("reason", "")).upper() for d in _details(err)}
    out.discard("")
    return out


def _validation_url(err: dict[str, Any], message: str) -> str | None:
    for d in _details(err):
        meta = d.get("metadata")
        if isinstance(meta, dict):
            for key in ("validation_url", "validationUrl", "verification_url", "verifyUrl", "url"):
                if isinstance(meta.get(key), str) and meta[key].startswith("http"):
                    return meta[key]
        for link in d.get("links") or []:
            if isinstance(link, dict) and isinstance(link.get("url"), str):
                return link["url"]
    m = _URL.search(message)
    return m.group(0).rstrip(".,;)") if m else None


def classify(status: int, body: bytes | str | dict | list | None, headers: Mapping[str, str] | None = None) -> UpstreamError:
    """SPEC §7: what kind of failure an upstream reply is, with its retry hint."""
    raw = body if isinstance(body, bytes) else b"" if body is None else body.encode() if isinstance(body, str) else jsoncodec.dumps(body)
    parsed: Any = body
    if isinstance(body, (bytes, str)):
        try:
            parsed = jsoncodec.loads(body) if body else None
        except ValueError:
            parsed = None
    err = _error_obj(parsed)
    message = str(err.get("message") or "") if err else ""
    if not message:
        message = raw[:500].decode("utf-8", "replace").strip() or f"HTTP {status}"
    reasons = _reasons(err)
    text = f"{message} {err.get('status', '')} {' '.join(reasons)}".lower()
    hint = retry_hint(err, headers, message)
    kind = _kind(status, reasons, text)
    url = _validation_url(err, message) if kind is UpstreamErrorKind.VERIFICATION_REQUIRED else None
    return UpstreamError(kind, status, message, retry_after=hint, validation_url=url, body=raw)


# The upstream's verdict on the client version in the User-Agent (SPEC §7, §9).
_VERSION_GATE = re.compile(
    r"(version of antigravity is no longer supported|antigravity[^.]{0,60}is out of date"
    r"|client version[^.]{0,40}(no longer supported|out of date))",
    re.IGNORECASE,
)


def is_version_gate(text: str) -> bool:
    """Whether `text` is the upstream refusing the client version (also when it comes as
    the whole text of a 200 reply)."""
    return len(text) < 600 and _VERSION_GATE.search(text) is not None


def _kind(status: int, reasons: set[str], text: str) -> UpstreamErrorKind:
    K = UpstreamErrorKind
    if is_version_gate(text):
        return K.CLIENT_OUTDATED
    if status == 429:
        # Structured reasons first: Google's quota message says "exhausted your capacity".
        if "MODEL_CAPACITY_EXHAUSTED" in reasons:
            return K.CAPACITY
        if "RATE_LIMIT_EXCEEDED" in reasons:
            return K.RATE_LIMITED
        if "QUOTA_EXHAUSTED" in reasons:
            return K.QUOTA_EXHAUSTED
        if "no capacity" in text or "overloaded" in text:
            return K.CAPACITY
        if "per minute" in text or "too many requests" in text or "rate limit" in text:
            return K.RATE_LIMITED
        if "quota" in text:
            return K.QUOTA_EXHAUSTED
        return K.RATE_LIMITED
    if status in (503, 529):
        return K.CAPACITY
    if status == 401:
        return K.INVALID_GRANT if "invalid_grant" in text else K.UNAUTHORIZED
    if status == 403:
        if "VALIDATION_REQUIRED" in reasons or "validation_required" in text or "verify your account" in text:
            return K.VERIFICATION_REQUIRED
        return K.FORBIDDEN
    if status == 404:
        return K.NOT_FOUND
    if status == 408:
        return K.TIMEOUT
    if "API_KEY_INVALID" in reasons or "api key not valid" in text or "api key expired" in text:
        return K.UNAUTHORIZED  # the Gemini API says 400 for a bad key: the key's fault, not the request's
    if status >= 500:
        return K.SERVER
    return K.BAD_REQUEST
