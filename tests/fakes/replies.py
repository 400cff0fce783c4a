"""Scripted behaviours for the fake upstream: what one upstream call answers.

`Reply` is a plain value; the helpers build the realistic error shapes Google and
z.ai send (with each retry-hint form) so tests read like the SPEC §7 table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    status: int = 200
    json: Any = None  # body as JSON (None: the default reply for the route)
    body: bytes | None = None  # raw body, wins over json
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the response headers (slow first byte)
    chunk_delay: float = 0.0  # between SSE chunks
    events: list[bytes] | None = None  # raw SSE payload pieces for streams
    cut_after: int | None = None  # streams: drop the connection after N chunks
    text: str | None = None  # default reply, but with this text
    chunks: int = 3  # streams: how many text chunks the default reply is split into


def google_error(status: int, message: str, reason: str = "", *, retry_delay: str | None = None,
                 quota_reset_delay: str | None = None, quota_reset_ts: str | None = None,
                 metadata: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Reply:
    grpc = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}.get(status, "UNKNOWN")
    details: list[dict[str, Any]] = []
    meta = dict(metadata or {})
    if quota_reset_delay:
        meta["quotaResetDelay"] = quota_reset_delay
    if quota_reset_ts:
        meta["quotaResetTimeStamp"] = quota_reset_ts
    if reason or meta:
        details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                        "domain": "cloudcode-pa.googleapis.com", "metadata": meta})
    if retry_delay:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    err = {"error": {"code": status, "message": message, "status": grpc, "details": details}}
    return Reply(status=status, json=err, headers=dict(headers or {}))


def quota_exhausted(reset_delay: str = "1h2m3.5s") -> Reply:
    return google_error(429, "You have exhausted your capacity on this model. Your quota will reset after 1h2m3s.",
                        "QUOTA_EXHAUSTED", quota_reset_delay=reset_delay)


def rate_limited(retry_delay: str | None = "3.5s", retry_after: str | None = None) -> Reply:
    return google_error(429, "Resource has been exhausted (e.g. check quota): too many requests per minute.",
                        "RATE_LIMIT_EXCEEDED", retry_delay=retry_delay,
                        headers={"Retry-After": retry_after} if retry_after else None)


def try_again_text(seconds: str = "7s") -> Reply:
    return Reply(status=429, json={"error": {"code": 429, "message": f"Too many requests, please try again in {seconds}."}})


def capacity(status: int = 429) -> Reply:
    if status == 429:
        return google_error(429, "No capacity available for model right now.", "MODEL_CAPACITY_EXHAUSTED")
    return google_error(status, "The service is currently unavailable.")


def unauthorized() -> Reply:
    return google_error(401, "Request had invalid authentication credentials.")


def validation_required(url: str = "https://accounts.google.com/signin/continue?sarp=1&scc=1") -> Reply:
    return google_error(403, f"Verify your account to continue: {url}", "VALIDATION_REQUIRED",
                        metadata={"validation_url": url})


def forbidden() -> Reply:
    return google_error(403, "The caller does not have permission.", "PERMISSION_DENIED")


def server_error(status: int = 500) -> Reply:
    return google_error(status, "Internal error encountered.")


def not_found() -> Reply:
    return google_error(404, "Requested entity was not found.")


def entity_not_found() -> Reply:
    """Exactly what Cloud Code answers a generation for a model this account is not
    served (renamed, retired, not rolled out, or gated on a newer client)."""
    return Reply(status=404, json={"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}})


def bad_request(message: str = "Invalid JSON payload received.") -> Reply:
    return google_error(400, message)


def slow(seconds: float) -> Reply:
    return Reply(delay=seconds)


def cut_stream(after_chunks: int = 1) -> Reply:
    return Reply(cut_after=after_chunks)


def malformed_sse() -> Reply:
    return Reply(events=[b"data: {not json at all\r\n\r\n"])


def slow_stream(chunks: int = 50, chunk_delay: float = 0.1) -> Reply:
    return Reply(text=" ".join(f"w{i}" for i in range(chunks)), chunk_delay=chunk_delay, chunks=chunks)
