"""The edge every request passes (SPEC §3, §4, §14), in this order: request id → path
normalisation → CORS preflight → [monitor record] → auth → body limit → errors.

It sits on the hot path of every call, so it is one aiohttp middleware doing each step
inline (one coroutine frame per request, not seven), with no regex, no logging per
request, and the canonical path memoised per raw path."""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import secrets
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from yarl import URL

from proxy.context import CANONICAL_PATH, RECORD, REQUEST_ID, ProxyContext, request_key
from proxy.errors import ApiError, ErrorKind, error_response, protocol_for_path
from proxy.keys.guard import CLIENT_KEY, check_key

if TYPE_CHECKING:
    from proxy.monitor.middleware import MonitorHooks

logger = logging.getLogger(__name__)

HEALTH_PATHS = frozenset({"/healthz", "/health"})
# Connection probes (Claude Code sends `HEAD /` without a key before its first call);
# they reveal nothing, so `all_except_health` lets them through like health checks.
PROBE_PATHS = frozenset({"/", "/v1"})
REQUEST_ID_HEADER = "X-Agproxy-Request-Id"
EXPOSED_HEADERS = "X-Agproxy-Request-Id, X-Agproxy-Account, X-Agproxy-Mapped-Model, Retry-After"

_VERSIONS = frozenset({"v1", "v1beta", "v1alpha"})
# First segments that clients send without the /v1 a base URL should have carried.
_UNPREFIXED = frozenset(
    {"chat", "responses", "messages", "models", "completions", "embeddings", "api"}
)
_NORMALISED = request_key("agproxy.normalised", bool)

AUTH_HELP = (
    "send the proxy API key as 'Authorization: Bearer <key>', 'x-api-key: <key>', "
    "'x-goog-api-key: <key>' or the '?key=<key>' query parameter"
)

# -- request id ----------------------------------------------------------------------------

_ID_PREFIX = secrets.token_hex(4)
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """Unique per process run and cheap: a random run prefix plus a counter."""
    return f"{_ID_PREFIX}-{next(_ID_COUNTER):x}"


async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Headers every response carries, set here because a streamed response is
    already sent by the time a middleware would see it."""
    headers = response.headers
    headers[REQUEST_ID_HEADER] = request.get(REQUEST_ID) or new_request_id()
    headers["Access-Control-Allow-Origin"] = "*"
    if hdrs.ORIGIN in request.headers:
        headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS


# -- path normalisation --------------------------------------------------------------------


@lru_cache(maxsize=4096)
def canonical_path(raw_path: str) -> str:
    """The one path both auth and routing decide on: percent-decoded, `;params`
    dropped, `//`, `.`, `..` and trailing slashes resolved, a doubled version prefix
    collapsed (`/v1/v1/x`, `/v1beta/v1/x` → `/v1beta/x`) and `/v1` added to the
    OpenAI/Anthropic paths clients send without it (`/chat/completions`)."""
    path = unquote(raw_path) if "%" in raw_path else raw_path
    path = path.replace("\\", "/")
    segments: list[str] = []
    for segment in path.split("/"):
        if ";" in segment:
            segment = segment.split(";", 1)[0]
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    while len(segments) >= 2 and segments[0] in _VERSIONS and segments[1] in _VERSIONS:
        # Keep the more specific version: /v1beta/v1/models → /v1beta/models.
        drop = 0 if segments[0] == "v1" else 1
        del segments[drop]
    if segments and segments[0] in _UNPREFIXED:
        segments.insert(0, "v1")
    return "/" + "/".join(segments)


async def _redispatch(request: web.Request, canonical: str) -> web.StreamResponse:
    """Route the canonical path: a clone re-enters the app with the canonical URL so the
    router and the whole edge see exactly the path auth decided on."""
    url = URL.build(path=canonical, query_string=request.rel_url.raw_query_string, encoded=False)
    clone = request.clone(rel_url=url)
    clone[_NORMALISED] = True
    clone[CANONICAL_PATH] = canonical
    return await request.app._handle(clone)  # aiohttp's own dispatch entry (private)


# -- CORS ----------------------------------------------------------------------------------


def is_preflight(request: web.Request) -> bool:
    """A real CORS preflight: an OPTIONS with Origin and Access-Control-Request-Method.
    Any other OPTIONS is an ordinary request (auth applies)."""
    headers = request.headers
    return hdrs.ORIGIN in headers and hdrs.ACCESS_CONTROL_REQUEST_METHOD in headers


def preflight(request: web.Request) -> web.Response:
    """Preflights are answered before auth: browsers never send keys on them."""
    headers = {
        "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS",
        "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers", "*"),
        "Access-Control-Max-Age": "86400",
    }
    return web.Response(status=204, headers=headers)


# -- auth ----------------------------------------------------------------------------------


_KEY_HEADERS = ("x-api-key", "x-goog-api-key")


def presented_key(request: web.Request) -> str | None:
    """The one client key the request presents (SPEC §4; client keys, §19, look it up
    too), or None when it presents none. Each carrier (Authorization, x-api-key,
    x-goog-api-key, ?key=) may hold one value; the same key on several carriers is fine.
    Several values on one carrier, or different keys on different carriers, raise the
    401: a request must not get to try many keys at once."""
    found: list[str] = []
    headers = request.headers
    if hdrs.AUTHORIZATION in headers:
        values = headers.getall(hdrs.AUTHORIZATION)
        if len(values) > 1:
            raise _several("Authorization headers")
        scheme, _, rest = values[0].partition(" ")
        found.append(rest.strip() if rest and scheme.lower() == "bearer" else values[0].strip())
    for name in _KEY_HEADERS:
        if name in headers:
            values = headers.getall(name)
            if len(values) > 1:
                raise _several(f"{name} headers")
            found.append(values[0].strip())
    if "key=" in request.rel_url.raw_query_string:
        values = request.query.getall("key", [])
        if len(values) > 1:
            raise _several("'key' query parameters")
        found.extend(values)
    found = [key for key in found if key]
    if not found:
        return None
    if any(key != found[0] for key in found[1:]):
        raise ApiError(
            ErrorKind.AUTHENTICATION,
            f"the request presents different API keys on different carriers: send one. {AUTH_HELP}",
        )
    return found[0]


def _several(carrier: str) -> ApiError:
    return ApiError(ErrorKind.AUTHENTICATION, f"several {carrier}: send exactly one API key. {AUTH_HELP}")


def auth_error(ctx: ProxyContext, request: web.Request, path: str) -> ApiError | None:
    """None when the request may pass (per the hot-applied auth mode), else the 401."""
    mode = ctx.auth_mode  # hot-applied: read per request
    if mode == "off":
        return None
    if mode == "all_except_health" and (
        path in HEALTH_PATHS or (request.method == hdrs.METH_HEAD and path in PROBE_PATHS)
    ):
        return None
    try:
        key = presented_key(request)
    except ApiError as err:
        return err
    if key is None:
        return ApiError(ErrorKind.AUTHENTICATION, f"missing API key: {AUTH_HELP}")
    # compare_digest on bytes: constant time in the key's content.
    if hmac.compare_digest(key.encode(), ctx.api_key):
        return None
    client_keys = ctx.client_keys
    if client_keys is not None and client_keys.by_hash:
        found = client_keys.find(key)  # a dict lookup by the key's hash
        if found is not None:
            return client_key_error(client_keys, request, found)
    return ApiError(ErrorKind.AUTHENTICATION, f"invalid API key: {AUTH_HELP}")


def client_key_error(client_keys: Any, request: web.Request, key: Any) -> ApiError | None:
    """A client key (SPEC §19): its name goes on the record, its limits are checked."""
    now = time.time()
    record = request.get(RECORD)
    if record is not None:
        record.client_key = key.name
    err = check_key(key, now)
    if err is None:
        request[CLIENT_KEY] = key
        client_keys.note_used(key, now)
    return err


# -- body size -----------------------------------------------------------------------------


def too_large(length: int | None, limit: int) -> ApiError:
    size = f"{length} bytes" if length is not None else "the request body"
    return ApiError(
        ErrorKind.TOO_LARGE,
        f"request body too large: {size} exceeds the limit of {limit // (1024 * 1024)} MB (proxy.max_body_mb)",
    )


# -- errors --------------------------------------------------------------------------------


def make_edge_middleware(ctx: ProxyContext, monitor: MonitorHooks | None = None):
    """The one middleware of the app: every step of the edge, inline."""
    begin = monitor.begin if monitor is not None else None
    finish = monitor.finish if monitor is not None else None
    failed = monitor.failed if monitor is not None else None

    @web.middleware
    async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        if REQUEST_ID not in request:  # a re-dispatched clone keeps its original id
            request[REQUEST_ID] = new_request_id()
        raw = request.rel_url.raw_path
        path = canonical_path(raw)
        request[CANONICAL_PATH] = path
        if path != raw and _NORMALISED not in request:
            return await _redispatch(request, path)
        if request.method == hdrs.METH_OPTIONS and is_preflight(request):
            return preflight(request)
        record = begin(request, path) if begin is not None else None
        if record is not None:  # one id everywhere: the header, the TUI, `agproxy logs`
            request[REQUEST_ID] = str(record.id)
        status = 0
        response: web.StreamResponse | None = None
        try:
            err = auth_error(ctx, request, path)
            if err is None:
                length = request.content_length
                if length is not None and length > ctx.max_body_bytes:
                    err = too_large(length, ctx.max_body_bytes)
            if err is not None:
                response = _error(request, err)
            else:
                # The handler; its failures rendered in the client's protocol.
                try:
                    response = await handler(request)
                except ApiError as api_err:
                    response = _error(request, api_err)
                except web.HTTPException as exc:
                    if exc.status < 400:
                        raise
                    response = _error(request, _from_http_exception(request, exc, ctx))
                except (asyncio.CancelledError, ConnectionResetError):
                    raise
                except Exception:  # noqa: BLE001  (logged by _internal_error)
                    response = _internal_error(request)
            status = response.status
            return response
        except BaseException as exc:
            if record is not None and failed is not None:
                status = failed(record, exc)
            raise
        finally:
            if record is not None and finish is not None:
                # Finished on the loop's next turn, once aiohttp has written the response,
                # not on the way to it: the record's work stays off the latency path.
                asyncio.get_running_loop().call_soon(finish, request, record, status, response)

    return edge


def _internal_error(request: web.Request) -> web.Response:
    logger.exception(
        "unhandled error in %s %s (request %s)",
        request.method,
        request.get(CANONICAL_PATH, request.rel_url.raw_path),
        request.get(REQUEST_ID),
    )
    return _error(
        request,
        ApiError(
            ErrorKind.INTERNAL,
            f"internal error in agproxy (request id {request.get(REQUEST_ID)}); see the agproxy log",
        ),
    )


def _from_http_exception(
    request: web.Request, exc: web.HTTPException, ctx: ProxyContext
) -> ApiError:
    if exc.status == 404:
        return ApiError(ErrorKind.NOT_FOUND, not_found_message(request))
    if exc.status == 405:
        return ApiError(
            ErrorKind.INVALID_REQUEST,
            f"method {request.method} not allowed on {request.get(CANONICAL_PATH, request.path)}",
            status=405,
        )
    if exc.status == 413:
        return too_large(request.content_length, ctx.max_body_bytes)
    kind = ErrorKind.INVALID_REQUEST if exc.status < 500 else ErrorKind.INTERNAL
    return ApiError(kind, exc.reason or exc.text or "error", status=exc.status)


def not_found_message(request: web.Request) -> str:
    base = f"{request.scheme}://{request.host}"
    return (
        f"unknown path {request.get(CANONICAL_PATH, request.path)}. Base URLs: OpenAI SDK {base}/v1 ; "
        f"Anthropic SDK / Claude Code {base} ; Gemini SDK / gemini-cli {base}"
    )


def _error(request: web.Request, err: ApiError) -> web.Response:
    """Every error response of the app passes here: the monitor's record gets its text."""
    record = request.get(RECORD)
    if record is not None and not record.error:
        record.error = err.message
    path = request.get(CANONICAL_PATH) or request.rel_url.path
    return error_response(protocol_for_path(path, request.headers), err)
