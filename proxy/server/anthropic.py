"""The Anthropic face: /v1/messages (Google pool or z.ai) and a local
/v1/messages/count_tokens (SPEC §3, §8, §10)."""

from __future__ import annotations

import contextlib
from random import getrandbits
from typing import Any

from aiohttp import web

from proxy import jsoncodec
from proxy.context import RECORD
from proxy.errors import ApiError, ErrorKind, UpstreamError
from proxy.keys.guard import check_model
from proxy.protocols import anthropic, anthropic_stream
from proxy.protocols.common import SSE_KEEPALIVE_COMMENT
from proxy.protocols.tokens import estimate_tokens
from proxy.server import exchange
from proxy.upstream.sse import SSEParser


async def messages(request: web.Request) -> web.StreamResponse:
    ctx = exchange.context(request)
    body = await exchange.read_json(request)
    client_model = body.get("model")
    check_model(request, client_model)  # before the z.ai decision: both paths obey it
    if _use_zai(ctx, client_model):
        return await _via_zai(request, body)
    upstream = exchange.upstream_model_for(ctx, client_model, request, body)
    call = anthropic.to_gemini(
        body,
        upstream_model=upstream,
        signatures=ctx.signatures,
        session_key=request.headers.get("X-Claude-Code-Session-Id"),
    )
    record = exchange.note_call(request, call, upstream)
    message_id = f"msg_{getrandbits(96):024x}"  # an id, not a secret: no getrandom() syscall
    include_thinking = bool(call.options.get("thinking", True))
    if call.stream:
        encoder = anthropic_stream.AnthropicStreamEncoder(
            call.client_model,
            message_id,
            ctx.signatures,
            call.session_key,
            upstream_model=upstream,
            include_thinking=include_thinking,
        )

        def keepalive() -> bytes:
            # `ping` events only after message_start; a comment before it is safe for any parser.
            return encoder.ping() if encoder.started else SSE_KEEPALIVE_COMMENT

        return await exchange.relay_stream(request, call, upstream, encoder, keepalive=keepalive)
    resp = await exchange.generate(request, call, upstream)
    out = anthropic_stream.from_gemini(
        resp,
        model=call.client_model,
        message_id=message_id,
        signatures=ctx.signatures,
        session_key=call.session_key,
        upstream_model=upstream,
        include_thinking=include_thinking,
    )
    usage = out.get("usage") or {}
    if record is not None:
        cached = usage.get("cache_read_input_tokens", 0) or 0
        record.input_tokens = (usage.get("input_tokens", 0) or 0) + cached
        record.output_tokens = usage.get("output_tokens", 0) or 0
        record.cached_tokens = cached
    return exchange.json_reply(request, out, upstream)


async def count_tokens(request: web.Request) -> web.Response:
    """Answered locally: an estimate over system, tools and messages; no account used."""
    body = await exchange.read_json(request)
    messages_ = body.get("messages")
    if not isinstance(messages_, list):
        raise ApiError(
            ErrorKind.INVALID_REQUEST, "messages: a list of messages is required", param="messages"
        )
    record = request.get(RECORD)
    if record is not None and isinstance(body.get("model"), str):
        record.client_model = body["model"]
    tokens = estimate_tokens(body.get("system"), body.get("tools"), messages_)
    if record is not None:
        record.input_tokens = tokens
    return web.Response(
        body=jsoncodec.dumps({"input_tokens": tokens}), content_type="application/json"
    )


def _use_zai(ctx: Any, client_model: Any) -> bool:
    """SPEC §10: the dispatcher decides, from the mode and the Google accounts' state."""
    if not ctx.config.zai_dispatch_on or not isinstance(client_model, str):
        return False
    return ctx.dispatcher.use_zai(exchange.resolve_upstream_model(ctx, client_model).model)


async def _via_zai(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    """Forward to z.ai (through the dispatcher) and relay its answer verbatim (SPEC §10)."""
    ctx = exchange.context(request)
    record = request.get(RECORD)
    use_bearer = "authorization" in request.headers and "x-api-key" not in request.headers
    upstream = await ctx.dispatcher.forward_zai(
        body,
        record,
        use_bearer=use_bearer,
        anthropic_version=request.headers.get("anthropic-version", "2023-06-01"),
        anthropic_beta=request.headers.get("anthropic-beta"),
    )
    headers = dict(upstream.headers)
    headers["X-Agproxy-Account"] = "z.ai"
    headers["X-Agproxy-Mapped-Model"] = f'{upstream.model}; rule="z.ai model table (zai.models)"'
    if not body.get("stream") or upstream.status != 200:
        data = await upstream.read()
        if record is not None:
            record.mark_first_byte()
            _usage_from_json(record, data)
        return web.Response(status=upstream.status, body=data, headers=headers)
    response = web.StreamResponse(status=upstream.status, headers=headers)
    await response.prepare(request)
    if record is not None:
        record.mark_first_byte()
    usage = ZaiStreamUsage() if record is not None else None
    try:
        async for chunk in upstream.chunks():
            await response.write(chunk)
            if usage is not None:
                usage.feed(chunk)
    except UpstreamError as exc:
        if record is not None:
            record.error = exc.message
        err = exc.to_api_error()
        frame = (
            b"event: error\ndata: "
            + jsoncodec.dumps(
                {"type": "error", "error": {"type": "api_error", "message": err.message}}
            )
            + b"\n\n"
        )
        with contextlib.suppress(ConnectionError):
            await response.write(frame)
    except ConnectionError:
        upstream.close()
    if usage is not None:
        usage.note(record)
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


class ZaiStreamUsage:
    """Token counts from a relayed Anthropic stream (`message_start` carries the input
    side, `message_delta` the output), so the monitor sees them; the bytes themselves
    go to the client untouched."""

    def __init__(self) -> None:
        self._parser = SSEParser()
        self.usage: dict[str, int] = {}

    def feed(self, chunk: bytes) -> None:
        for event in self._parser.feed(chunk):
            if event.event not in ("message_start", "message_delta"):
                continue
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                data = jsoncodec.loads(event.data)
                found = (data.get("message") or {}).get("usage") if event.event == "message_start" else data.get("usage")
                if isinstance(found, dict):
                    self.usage.update({k: v for k, v in found.items() if isinstance(v, int)})

    def note(self, record: Any) -> None:
        cached = self.usage.get("cache_read_input_tokens", 0)
        record.input_tokens = self.usage.get("input_tokens", 0) + cached
        record.output_tokens = self.usage.get("output_tokens", 0)
        record.cached_tokens = cached


def _usage_from_json(record: Any, data: bytes) -> None:
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        usage = jsoncodec.loads(data).get("usage") or {}
        cached = usage.get("cache_read_input_tokens", 0) or 0
        record.input_tokens = (usage.get("input_tokens", 0) or 0) + cached
        record.output_tokens = usage.get("output_tokens", 0) or 0
        record.cached_tokens = cached


def register(app: web.Application) -> None:
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)
