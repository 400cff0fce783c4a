"""Protocol-neutral error values, and their rendering in each client protocol (SPEC §14).

Handlers raise `ApiError`; upstream clients raise `UpstreamError`. Both are mapped to
the client's own wire shape in exactly one place: `error_body()` / `error_response()`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from proxy import jsoncodec


class Protocol(str, enum.Enum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


class ErrorKind(str, enum.Enum):
    """What went wrong, independent of protocol."""

    INVALID_REQUEST = "invalid_request"  # 400
    AUTHENTICATION = "authentication"  # 401
    PERMISSION = "permission"  # 403
    NOT_FOUND = "not_found"  # 404
    TOO_LARGE = "too_large"  # 413
    RATE_LIMIT = "rate_limit"  # 429
    API_ERROR = "api_error"  # 502: the upstream failed
    INTERNAL = "internal"  # 500: agproxy itself failed; nothing went upstream
    OVERLOADED = "overloaded"  # 503/529
    TIMEOUT = "timeout"  # 504


_STATUS = {
    ErrorKind.INVALID_REQUEST: 400,
    ErrorKind.AUTHENTICATION: 401,
    ErrorKind.PERMISSION: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.RATE_LIMIT: 429,
    ErrorKind.API_ERROR: 502,
    ErrorKind.INTERNAL: 500,
    ErrorKind.OVERLOADED: 503,
    ErrorKind.TIMEOUT: 504,
}

_ANTHROPIC_TYPE = {
    ErrorKind.INVALID_REQUEST: "invalid_request_error",
    ErrorKind.AUTHENTICATION: "authentication_error",
    ErrorKind.PERMISSION: "permission_error",
    ErrorKind.NOT_FOUND: "not_found_error",
    ErrorKind.TOO_LARGE: "request_too_large",
    ErrorKind.RATE_LIMIT: "rate_limit_error",
    ErrorKind.API_ERROR: "api_error",
    ErrorKind.INTERNAL: "api_error",
    ErrorKind.OVERLOADED: "overloaded_error",
    ErrorKind.TIMEOUT: "api_error",
}

_OPENAI_TYPE = {
    ErrorKind.INVALID_REQUEST: ("invalid_request_error", None),
    ErrorKind.AUTHENTICATION: ("invalid_request_error", "invalid_api_key"),
    ErrorKind.PERMISSION: ("permission_error", "permission_denied"),
    ErrorKind.NOT_FOUND: ("invalid_request_error", "not_found"),
    ErrorKind.TOO_LARGE: ("invalid_request_error", "request_too_large"),
    ErrorKind.RATE_LIMIT: ("rate_limit_error", "rate_limit_exceeded"),
    ErrorKind.API_ERROR: ("api_error", "upstream_error"),
    ErrorKind.INTERNAL: ("server_error", "internal_error"),
    ErrorKind.OVERLOADED: ("server_error", "overloaded"),
    ErrorKind.TIMEOUT: ("timeout_error", "timeout"),
}

_GEMINI_STATUS = {
    ErrorKind.INVALID_REQUEST: "INVALID_ARGUMENT",
    ErrorKind.AUTHENTICATION: "UNAUTHENTICATED",
    ErrorKind.PERMISSION: "PERMISSION_DENIED",
    ErrorKind.NOT_FOUND: "NOT_FOUND",
    ErrorKind.TOO_LARGE: "INVALID_ARGUMENT",
    ErrorKind.RATE_LIMIT: "RESOURCE_EXHAUSTED",
    ErrorKind.API_ERROR: "INTERNAL",
    ErrorKind.INTERNAL: "INTERNAL",
    ErrorKind.OVERLOADED: "UNAVAILABLE",
    ErrorKind.TIMEOUT: "DEADLINE_EXCEEDED",
}


@dataclass
class ApiError(Exception):
    """An error to send to the client. `status` defaults from `kind`."""

    kind: ErrorKind
    message: str
    status: int = 0
    param: str | None = None
    retry_after: float | None = None  # seconds; becomes a Retry-After header
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.status:
            self.status = _STATUS[self.kind]
        super().__init__(self.message)


class UpstreamErrorKind(str, enum.Enum):
    """Classification of an upstream failure (SPEC §7 table)."""

    QUOTA_EXHAUSTED = "quota_exhausted"
    RATE_LIMITED = "rate_limited"
    CAPACITY = "capacity"  # 429 MODEL_CAPACITY_EXHAUSTED, 503, 529
    UNAUTHORIZED = "unauthorized"  # 401
    INVALID_GRANT = "invalid_grant"  # refresh token revoked
    FORBIDDEN = "forbidden"  # 403
    VERIFICATION_REQUIRED = "verification_required"  # 403 VALIDATION_REQUIRED
    NOT_FOUND = "not_found"  # 404
    TIMEOUT = "timeout"  # 408, or our own request_timeout
    SERVER = "server"  # other 5xx
    TRANSPORT = "transport"  # connection refused/reset, truncated stream
    BAD_REQUEST = "bad_request"  # 400: the client's fault, never retried
    CLIENT_OUTDATED = "client_outdated"  # "This version of Antigravity is no longer supported"


@dataclass
class UpstreamError(Exception):
    kind: UpstreamErrorKind
    status: int  # upstream HTTP status, 0 for transport errors
    message: str
    retry_after: float | None = None  # seconds, from the upstream's hints
    validation_url: str | None = None
    body: bytes = b""
    # A transport failure or timeout after the request may have reached the upstream (a reset
    # after sending, no answer in time): it may be running there, so sending it again could
    # run a generation twice (SPEC §6.4). False when it provably never left (connect failed).
    may_have_run: bool = False

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def to_api_error(self) -> ApiError:
        """How the client sees this failure when no retry is left."""
        kind = {
            UpstreamErrorKind.QUOTA_EXHAUSTED: ErrorKind.RATE_LIMIT,
            UpstreamErrorKind.RATE_LIMITED: ErrorKind.RATE_LIMIT,
            UpstreamErrorKind.CAPACITY: ErrorKind.OVERLOADED,
            UpstreamErrorKind.UNAUTHORIZED: ErrorKind.API_ERROR,
            UpstreamErrorKind.INVALID_GRANT: ErrorKind.API_ERROR,
            UpstreamErrorKind.FORBIDDEN: ErrorKind.API_ERROR,
            UpstreamErrorKind.VERIFICATION_REQUIRED: ErrorKind.API_ERROR,
            UpstreamErrorKind.NOT_FOUND: ErrorKind.API_ERROR,
            UpstreamErrorKind.TIMEOUT: ErrorKind.TIMEOUT,
            UpstreamErrorKind.SERVER: ErrorKind.API_ERROR,
            UpstreamErrorKind.TRANSPORT: ErrorKind.API_ERROR,
            UpstreamErrorKind.BAD_REQUEST: ErrorKind.INVALID_REQUEST,
            UpstreamErrorKind.CLIENT_OUTDATED: ErrorKind.API_ERROR,
        }[self.kind]
        return ApiError(kind, f"upstream: {self.message}", retry_after=self.retry_after)


def error_body(protocol: Protocol, err: ApiError) -> dict:
    """The error JSON exactly as the client's own vendor would shape it."""
    if protocol is Protocol.ANTHROPIC:
        return {"type": "error", "error": {"type": _ANTHROPIC_TYPE[err.kind], "message": err.message}}
    if protocol is Protocol.GEMINI:
        return {"error": {"code": err.status, "message": err.message, "status": _GEMINI_STATUS[err.kind]}}
    etype, code = _OPENAI_TYPE[err.kind]
    return {"error": {"message": err.message, "type": etype, "code": code, "param": err.param}}


def error_response(protocol: Protocol, err: ApiError) -> web.Response:
    headers = dict(err.headers)
    if err.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(err.retry_after + 0.999)))
    return web.Response(
        status=err.status,
        body=jsoncodec.dumps(error_body(protocol, err)),
        content_type="application/json",
        headers=headers,
    )


def protocol_for_path(path: str, headers: Mapping[str, str] | None = None) -> Protocol:
    """Which protocol a path speaks, for shaping errors before a handler runs (and for
    the monitor on every request: keep it cheap)."""
    p = path.lower()
    if "/v1beta" in p or ":generatecontent" in p or ":streamgeneratecontent" in p or ":counttokens" in p:
        return Protocol.GEMINI
    if (p.rstrip("/").endswith("/models") or "/models/" in p) and _has_header(headers, "x-goog-api-key"):
        return Protocol.GEMINI
    if p.endswith("/messages") or "/messages/" in p or _has_header(headers, "anthropic-version"):
        return Protocol.ANTHROPIC
    return Protocol.OPENAI


def _has_header(headers: Mapping[str, str] | None, name: str) -> bool:
    if headers is None:
        return False
    if isinstance(headers, CIMultiDictProxy | CIMultiDict):
        return name in headers
    return any(k.lower() == name for k in headers)
