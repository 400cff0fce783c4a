"""The request pipeline every API face shares: read the JSON body once, fill the
monitor record, run a non-stream call, or relay a stream with peek-before-commit
and keep-alives (SPEC §3, §7, §8)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from typing import Protocol as TypingProtocol

from aiohttp import hdrs, http_exceptions, web, web_protocol

from proxy import jsoncodec
from proxy.context import BODY_HEAD, CTX, RECORD, RESOLUTION, ProxyContext
from proxy.dispatch import UpstreamCall
from proxy.errors import ApiError, ErrorKind, UpstreamError
from proxy.keys.guard import check_model
from proxy.protocols.common import GeminiCall, StreamResult, Usage, check_nesting
from proxy.routing import Resolution
from proxy.server.connection import BodyStalled, abandon_body

logger = logging.getLogger(__name__)

# Bodies above this are read into one buffer and not kept (read_json); the monitor
# keeps only their head (request[BODY_HEAD]).
LARGE_BODY = 1024 * 1024
COALESCE_BYTES = 16384  # the most a burst of encoded chunks waits to be written together
SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


class StreamEncoder(TypingProtocol):
    """What every protocol's stream encoder offers (ARCHITECTURE.md, Translators)."""

    @property
    def result(self) -> StreamResult: ...

    def feed(self, chunk: dict[str, Any]) -> bytes: ...
    def finish(self) -> bytes: ...
    def fail(self, err: ApiError) -> bytes: ...


E = TypeVar("E", bound=StreamEncoder)


def context(request: web.Request) -> ProxyContext:
    return request.app[CTX]


async def read_json(request: web.Request) -> dict[str, Any]:
    """The body parsed once; a precise 400 for anything that is not a JSON object.

    A large body (SPEC §16: memory ≈ one copy) is read straight into one buffer of its
    declared length, parsed from there and dropped: only its head stays, for the monitor's
    capture (`capture_head`). Small bodies stay cached by aiohttp (`request.read()`)."""
    try:
        length = request.content_length
        # (a compressed body's length is not its decompressed size: aiohttp's own read)
        if (
            length is not None
            and length > LARGE_BODY
            and hdrs.CONTENT_ENCODING not in request.headers
        ):
            raw: bytes | bytearray = await _read_large(request, length)
        else:
            raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise
    except (http_exceptions.HttpProcessingError, web_protocol.RequestPayloadError) as exc:
        # aiohttp's RequestPayloadError / ContentEncodingError / TransferEncodingError:
        # a body that does not match its own framing or Content-Encoding.
        abandon_body(request)
        raise ApiError(ErrorKind.INVALID_REQUEST, _unreadable_message(request, exc)) from None
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        abandon_body(request)
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"request body could not be read: {exc}",
            status=408 if isinstance(exc, BodyStalled) else 0,
        ) from None
    if not raw:
        raise ApiError(ErrorKind.INVALID_REQUEST, "request body is empty: expected a JSON object")
    try:
        body = jsoncodec.loads(raw)
    except jsoncodec.JSONDecodeError as exc:
        raise ApiError(ErrorKind.INVALID_REQUEST, _not_json_message(raw, exc)) from None
    finally:
        if isinstance(raw, bytearray):
            request[BODY_HEAD] = capture_head(raw, request)
    if not isinstance(body, dict):
        raise ApiError(ErrorKind.INVALID_REQUEST, "request body must be a JSON object")
    check_nesting(body)
    return body


def _unreadable_message(request: web.Request, exc: Exception) -> str:
    encoding = request.headers.get(hdrs.CONTENT_ENCODING)
    cause = exc.__cause__ or exc.__context__
    if encoding and (
        isinstance(exc, http_exceptions.ContentEncodingError)
        or isinstance(cause, http_exceptions.ContentEncodingError)
    ):
        return (
            f"request body is not valid Content-Encoding: {encoding} data "
            "(send the body uncompressed, or compressed as the header says)"
        )
    detail = getattr(exc, "message", "") or (str(cause) if cause else "") or type(exc).__name__
    return f"request body could not be read: {detail}"


async def _read_large(request: web.Request, length: int) -> bytearray:
    """The body in one preallocated buffer: no chunk list, no bytearray → bytes copy
    (aiohttp's `read()` holds both at once, and caches the result for the request's life)."""
    buf = bytearray(length)
    view = memoryview(buf)
    pos = 0
    content = request.content
    try:
        while pos < length:
            chunk = await content.readany()
            if not chunk:
                break
            end = pos + len(chunk)
            if end > length:  # aiohttp's parser stops at Content-Length; never trust it blindly
                raise ConnectionError("request body longer than its Content-Length")
            view[pos:end] = chunk
            pos = end
    finally:
        view.release()
    if pos < length:
        raise ConnectionError(f"request body ended after {pos} of {length} bytes")
    return buf


def capture_head(raw: bytearray, request: web.Request) -> bytes:
    """What the monitor may keep of a large body: its first `monitor.max_body_kb` (+1
    byte, so the capture still sees where the cut falls). Its whole size is the request's
    Content-Length."""
    monitor = context(request).monitor
    if monitor is None or monitor.settings.capture_bodies == "off":
        return b""
    return bytes(raw[: monitor.settings.max_body_kb * 1024 + 1])


def _not_json_message(raw: bytes | bytearray, exc: Exception) -> str:
    """Only on the error path: say "not UTF-8" rather than orjson's surrogate talk."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return (
            f"request body is not valid UTF-8 (byte 0x{raw[bad.start]:02x} at offset {bad.start})"
        )
    return f"request body is not valid JSON: {exc}"


def _model_name(client_model: Any) -> str:
    if not isinstance(client_model, str) or not client_model.strip():
        raise ApiError(ErrorKind.INVALID_REQUEST, "model: a model name is required", param="model")
    return client_model


def wants_thinking(body: dict[str, Any]) -> bool:
    """Whether a request (any of the three protocols) asks for thinking: picks the
    `-thinking` variant of a family (SPEC §9)."""
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        return True
    effort = body.get("reasoning_effort")
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict):
        effort = effort or reasoning.get("effort")
    if isinstance(effort, str) and effort not in ("none", "minimal"):
        return True
    config = body.get("generationConfig") or body.get("generation_config")
    if isinstance(config, dict):
        tc = config.get("thinkingConfig") or config.get("thinking_config")
        if isinstance(tc, dict):
            budget = tc.get("thinkingBudget", tc.get("thinking_budget"))
            return bool(tc.get("includeThoughts") or tc.get("include_thoughts") or tc.get("thinkingLevel")
                        or (isinstance(budget, int) and budget != 0))
    return False


def resolve_upstream_model(ctx: ProxyContext, client_model: Any, thinking: bool = False) -> Resolution:
    """How a client model resolves (SPEC §9), without refusing it."""
    return ctx.dispatcher.resolve(_model_name(client_model), thinking)


def upstream_model_for(
    ctx: ProxyContext, client_model: Any, request: web.Request | None = None, body: dict[str, Any] | None = None
) -> str:
    """The upstream model, refused with a clear 404 when no account serves it (a typo or
    a retired name must not look like an outage or a rate limit). The resolution is kept
    on the request for the record, the response header and a re-resolve after a 404."""
    resolution = resolve_upstream_model(ctx, client_model, wants_thinking(body) if body else False)
    if request is not None:
        request[RESOLUTION] = resolution
        record = request.get(RECORD)
        if record is not None:
            record.mapping_rule = resolution.rule
            if isinstance(client_model, str):  # shown even when the model is refused
                record.client_model = client_model
    if not resolution.offered and not ctx.dispatcher.resolver.offer.unknown:
        raise ctx.dispatcher.not_served(resolution.client_model, [resolution.model])
    return resolution.model


def note_call(request: web.Request, call: GeminiCall, upstream_model: str) -> Any:
    check_model(request, call.client_model)  # a client key's model globs (403)
    record = request.get(RECORD)
    if record is not None:
        record.client_model = call.client_model
        record.upstream_model = upstream_model
        record.stream = call.stream
    return record


def note_usage(record: Any, usage: Usage) -> None:
    if record is not None:
        record.input_tokens = usage.input_tokens
        record.output_tokens = usage.output_tokens
        record.cached_tokens = usage.cached_tokens
        record.thinking_tokens = usage.thinking_tokens


def upstream_headers(record: Any, upstream_model: str, request: web.Request | None = None) -> dict[str, str]:
    """`X-Agproxy-Mapped-Model: <id>; rule="<how it was chosen>"` and the account."""
    model = (record.upstream_model if record is not None and record.upstream_model else "") or upstream_model
    resolution = request.get(RESOLUTION) if request is not None else None
    rule = resolution.rule if resolution is not None else ""
    if record is not None and record.mapping_rule:
        rule = record.mapping_rule
    value = f'{model}; rule="{_header_safe(rule)}"' if rule else model
    headers = {"X-Agproxy-Mapped-Model": value}
    if record is not None and record.account:
        headers["X-Agproxy-Account"] = record.account
    return headers


def _header_safe(text: str) -> str:
    return text.encode("ascii", "replace").decode().replace('"', "'").replace("\r", " ").replace("\n", " ")


def to_upstream(
    call: GeminiCall, upstream_model: str, stream: bool, request: web.Request | None = None
) -> UpstreamCall:
    resolution = request.get(RESOLUTION) if request is not None else None
    return UpstreamCall(
        model=upstream_model, request=call.request, session_key=call.session_key, stream=stream,
        resolution=resolution if resolution is not None and resolution.model == upstream_model else None,
        thinking=resolution.thinking if resolution is not None else False,
    )


def _note_switch(record: Any, upstream: UpstreamCall) -> None:
    """The dispatcher moved to another id after a 404 + catalogue re-read."""
    if record is not None and upstream.resolution is not None:
        record.mapping_rule = upstream.resolution.rule


async def generate(request: web.Request, call: GeminiCall, upstream_model: str) -> dict[str, Any]:
    """One non-stream upstream call (with the dispatcher's failover)."""
    ctx = context(request)
    record = request.get(RECORD)
    upstream = to_upstream(call, upstream_model, False, request)
    try:
        resp = await ctx.dispatcher.generate(upstream, record)
    except UpstreamError as exc:
        raise exc.to_api_error() from None
    finally:
        _note_switch(record, upstream)
    if record is not None:  # the faces' own usage shapes do not all carry it
        meta = resp.get("usageMetadata") or {}
        record.thinking_tokens = int(meta.get("thoughtsTokenCount") or 0)
    return resp


def json_reply(request: web.Request, body: dict[str, Any], upstream_model: str) -> web.Response:
    record = request.get(RECORD)
    if record is not None:
        record.mark_first_byte()
    return web.Response(
        body=jsoncodec.dumps(body),
        content_type="application/json",
        headers=upstream_headers(record, upstream_model, request),
    )


async def relay_stream(
    request: web.Request,
    call: GeminiCall,
    upstream_model: str,
    encoder: E,
    *,
    keepalive: Callable[[], bytes],
    content_type: str | None = None,
    on_done: Callable[[E], None] | None = None,
) -> web.StreamResponse:
    """Relay an upstream stream through `encoder`.

    Nothing is committed until the first upstream chunk arrives, so a failure before it
    still reaches the client as a proper error status (and the dispatcher could move on
    to another account). If that wait outlasts the keep-alive interval the 200 is
    committed with a keep-alive frame; errors after commit end the stream with the
    protocol's error event, never a silent truncation."""
    ctx = context(request)
    record = request.get(RECORD)
    interval = ctx.keepalive_interval
    upstream_call = to_upstream(call, upstream_model, True, request)
    opening = asyncio.ensure_future(ctx.dispatcher.open_stream(upstream_call, record))
    response: web.StreamResponse | None = None
    stream = None
    last_write = time.monotonic()

    async def commit() -> web.StreamResponse:
        headers = dict(SSE_HEADERS)
        if content_type:
            headers["Content-Type"] = content_type
        _note_switch(record, upstream_call)
        headers.update(upstream_headers(record, upstream_model, request))
        resp = web.StreamResponse(status=200, headers=headers)
        await resp.prepare(request)
        if record is not None:
            record.mark_first_byte()
        return resp

    try:
        while True:
            done, _ = await asyncio.wait({opening}, timeout=interval)
            if done:
                break
            if response is None:
                response = await commit()
            await response.write(keepalive())
        try:
            stream = opening.result()
        except UpstreamError as exc:
            raise exc.to_api_error() from None
        except ApiError:
            raise
    except ApiError as err:
        if response is None:
            raise
        await _end_with_error(response, encoder, err, record)
        return response
    except ConnectionError:
        # The client left while we were still waiting (a keep-alive write failed):
        # the `finally` drops the upstream attempt; there is nobody to answer.
        _client_gone(record)
        return response if response is not None else web.Response(status=499)
    finally:
        if not opening.done():
            opening.cancel()

    if response is None:
        response = await commit()
    pinger = asyncio.ensure_future(
        _keepalive_loop(response, keepalive, interval, lambda: last_write)
    )
    # A burst of chunks that already arrived (a fast upstream, or a slow client) goes out
    # in one write of up to COALESCE_BYTES, not one syscall per chunk; the first bytes,
    # and whatever would otherwise wait for the network, are written at once.
    pending: list[bytes] = []
    size = 0
    first = True
    buffered = getattr(stream, "buffered", None)
    try:
        async for chunk in stream:
            data = encoder.feed(chunk)
            if data:
                pending.append(data)
                size += len(data)
            if pending and (first or size >= COALESCE_BYTES or buffered is None or not buffered()):
                await response.write(pending[0] if len(pending) == 1 else b"".join(pending))
                pending.clear()
                size, first = 0, False
                last_write = time.monotonic()
        pending.append(encoder.finish())
        data = b"".join(pending)
        pending.clear()
        if data:
            await response.write(data)
        if on_done is not None:
            on_done(encoder)
    except UpstreamError as exc:
        await _flush(response, pending)
        await _end_with_error(response, encoder, exc.to_api_error(), record)
    except ApiError as err:
        await _flush(response, pending)
        await _end_with_error(response, encoder, err, record)
    except ConnectionError:
        _client_gone(record)
    finally:
        pinger.cancel()
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
        note_stream_result(record, encoder.result)
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


def _client_gone(record: Any) -> None:
    if record is not None:
        record.error = "client disconnected"
    logger.info("client went away mid-stream")


def note_stream_result(record: Any, result: StreamResult) -> None:
    if record is None:
        return
    note_usage(record, result.usage)
    record.response_summary = result.to_dict()


async def _flush(response: web.StreamResponse, pending: list[bytes]) -> None:
    """What was already encoded reaches the client before the error event."""
    if pending:
        with contextlib.suppress(ConnectionError):
            await response.write(b"".join(pending))
        pending.clear()


async def _end_with_error(
    response: web.StreamResponse, encoder: StreamEncoder, err: ApiError, record: Any
) -> None:
    if record is not None:
        record.error = err.message
    with contextlib.suppress(ConnectionError):
        await response.write(encoder.fail(err))


async def _keepalive_loop(
    response: web.StreamResponse,
    frame: Callable[[], bytes],
    interval: float,
    last: Callable[[], float],
) -> None:
    """Send a keep-alive whenever the stream has been quiet for `interval`."""
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        while True:
            idle = time.monotonic() - last()
            if idle >= interval:
                await response.write(frame())
                idle = 0.0
            await asyncio.sleep(interval - idle)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
