"""The Gemini face: models listing, :generateContent, :streamGenerateContent and
:countTokens under /v1beta and /v1 (SPEC §3, §8)."""

from __future__ import annotations

from aiohttp import web

from proxy import jsoncodec
from proxy.context import RECORD
from proxy.errors import ApiError, ErrorKind, UpstreamError
from proxy.protocols import gemini
from proxy.protocols.common import Usage
from proxy.server import exchange
from proxy.server.listing import served_models

_ACTIONS = ("generateContent", "streamGenerateContent", "countTokens")


async def list_models(request: web.Request) -> web.Response:
    ctx = exchange.context(request)
    return web.Response(
        body=jsoncodec.dumps(gemini.models_list(served_models(ctx))),
        content_type="application/json",
    )


async def get_model(request: web.Request) -> web.Response:
    ctx = exchange.context(request)
    name = request.match_info["target"]
    if ":" in name:
        raise ApiError(ErrorKind.NOT_FOUND, f"unknown method for GET: {name}; use POST")
    if name not in served_models(ctx):
        raise ApiError(ErrorKind.NOT_FOUND, f"models/{name} is not found (see GET /v1beta/models)")
    return web.Response(
        body=jsoncodec.dumps(gemini.model_info(name)), content_type="application/json"
    )


async def model_action(request: web.Request) -> web.StreamResponse:
    target = request.match_info["target"]
    model, _, action = target.rpartition(":")
    if not model or action not in _ACTIONS:
        raise ApiError(
            ErrorKind.NOT_FOUND,
            f"unknown model method {target!r}: expected models/<model>:{{{'|'.join(_ACTIONS)}}}",
        )
    ctx = exchange.context(request)
    body = await exchange.read_json(request)
    upstream = exchange.upstream_model_for(ctx, model, request, body)
    if action == "countTokens":
        return await _count_tokens(request, body, model, upstream)
    stream = action == "streamGenerateContent"
    call = gemini.to_gemini(body, model=model, stream=stream)
    record = exchange.note_call(request, call, upstream)
    if stream:
        sse = request.query.get("alt") == "sse"
        encoder = gemini.GeminiStreamEncoder(sse=sse)
        return await exchange.relay_stream(
            request,
            call,
            upstream,
            encoder,
            # A bare line, not `: ping`: google-genai parses any non-`data:` line as JSON.
            # A JSON-array stream has no room for one: it only gets the early commit.
            keepalive=(lambda: b"\r\n") if sse else (lambda: b""),
            content_type=None if sse else "application/json; charset=utf-8",
        )
    resp = await exchange.generate(request, call, upstream)
    exchange.note_usage(record, Usage.from_gemini(resp.get("usageMetadata")))
    return exchange.json_reply(request, gemini.from_gemini(resp), upstream)


async def _count_tokens(
    request: web.Request, body: dict, model: str, upstream: str
) -> web.Response:
    ctx = exchange.context(request)
    inner = (
        body.get("generateContentRequest")
        if isinstance(body.get("generateContentRequest"), dict)
        else body
    )
    call = gemini.to_gemini(inner, model=model, stream=False)
    exchange.note_call(request, call, upstream)
    try:
        resp = await ctx.dispatcher.count_tokens(
            exchange.to_upstream(call, upstream, False), request.get(RECORD)
        )
    except UpstreamError as exc:
        raise exc.to_api_error() from None
    return exchange.json_reply(request, resp, upstream)


def register(app: web.Application) -> None:
    router = app.router
    router.add_get("/v1beta/models", list_models)
    for prefix in ("/v1beta/models/", "/v1/models/"):
        router.add_get(prefix + "{target}", get_model)
        router.add_post(prefix + "{target}", model_action)
