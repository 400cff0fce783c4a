"""The OpenAI face: /v1/models, /v1/chat/completions, /v1/responses (SPEC §3, §8)."""

from __future__ import annotations

import time
from random import getrandbits

from aiohttp import web

from proxy import jsoncodec
from proxy.protocols import openai_chat, openai_responses, responses_output
from proxy.protocols.common import SSE_KEEPALIVE_COMMENT
from proxy.server import exchange
from proxy.server.listing import served_models


async def list_models(request: web.Request) -> web.Response:
    ctx = exchange.context(request)
    if "x-goog-api-key" in request.headers:  # google-genai on /v1 (SPEC §3)
        from proxy.server.gemini import list_models as gemini_list

        return await gemini_list(request)
    created = int(ctx.started_at or time.time())
    data = [
        {"id": m, "object": "model", "created": created, "owned_by": "agproxy"}
        for m in served_models(ctx)
    ]
    if "anthropic-version" in request.headers:  # the Anthropic SDK's models.list()
        anthropic_data = [
            {"id": m, "type": "model", "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in served_models(ctx)
        ]
        body = {
            "data": anthropic_data,
            "has_more": False,
            "first_id": anthropic_data[0]["id"] if anthropic_data else None,
            "last_id": anthropic_data[-1]["id"] if anthropic_data else None,
        }
        return web.Response(body=jsoncodec.dumps(body), content_type="application/json")
    return web.Response(
        body=jsoncodec.dumps({"object": "list", "data": data}), content_type="application/json"
    )


async def chat_completions(request: web.Request) -> web.StreamResponse:
    ctx = exchange.context(request)
    body = await exchange.read_json(request)
    upstream = exchange.upstream_model_for(ctx, body.get("model"), request, body)
    call = openai_chat.to_gemini(body, upstream_model=upstream, signatures=ctx.signatures)
    record = exchange.note_call(request, call, upstream)
    completion_id = f"chatcmpl-{getrandbits(96):024x}"  # an id, not a secret: no getrandom() syscall
    created = int(time.time())
    if call.stream:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        encoder = openai_chat.OpenAIChatStreamEncoder(
            call.client_model,
            completion_id,
            created,
            include_usage,
            ctx.signatures,
            call.session_key,
        )
        return await exchange.relay_stream(
            request, call, upstream, encoder, keepalive=lambda: SSE_KEEPALIVE_COMMENT
        )
    resp = await exchange.generate(request, call, upstream)
    out = openai_chat.from_gemini(
        resp,
        model=call.client_model,
        created=created,
        completion_id=completion_id,
        signatures=ctx.signatures,
        session_key=call.session_key,
    )
    usage = out.get("usage") or {}
    if record is not None:
        record.input_tokens = usage.get("prompt_tokens", 0)
        record.output_tokens = usage.get("completion_tokens", 0)
        record.cached_tokens = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    return exchange.json_reply(request, out, upstream)


async def responses(request: web.Request) -> web.StreamResponse:
    ctx = exchange.context(request)
    body = await exchange.read_json(request)
    upstream = exchange.upstream_model_for(ctx, body.get("model"), request, body)
    call = openai_responses.to_gemini(
        body, upstream_model=upstream, store=ctx.responses, signatures=ctx.signatures
    )
    record = exchange.note_call(request, call, upstream)
    response_id = f"resp_{getrandbits(128):032x}"
    created = int(time.time())
    opts = call.options
    store = ctx.responses if opts.get("store", True) else None
    if call.stream:
        encoder = responses_output.ResponsesStreamEncoder(
            call.client_model,
            response_id,
            created,
            opts.get("echo"),
            tool_names=opts.get("tool_names"),
            signatures=ctx.signatures,
            session_key=call.session_key,
        )

        def save(enc: responses_output.ResponsesStreamEncoder) -> None:
            if store is not None:
                store.save(response_id, opts.get("input_items") or [], enc.output_items)

        return await exchange.relay_stream(
            request, call, upstream, encoder, keepalive=lambda: SSE_KEEPALIVE_COMMENT, on_done=save
        )
    resp = await exchange.generate(request, call, upstream)
    out = responses_output.from_gemini(
        resp,
        model=call.client_model,
        response_id=response_id,
        created=created,
        request_echo=opts.get("echo"),
        tool_names=opts.get("tool_names"),
        signatures=ctx.signatures,
        session_key=call.session_key,
    )
    if store is not None:
        store.save(response_id, opts.get("input_items") or [], out.get("output") or [])
    usage = out.get("usage") or {}
    if record is not None:
        record.input_tokens = usage.get("input_tokens", 0)
        record.output_tokens = usage.get("output_tokens", 0)
        record.cached_tokens = (usage.get("input_tokens_details") or {}).get("cached_tokens", 0)
    return exchange.json_reply(request, out, upstream)


def register(app: web.Application) -> None:
    router = app.router
    router.add_get("/v1/models", list_models)
    router.add_post("/v1/chat/completions", chat_completions)
    router.add_post("/v1/responses", responses)
