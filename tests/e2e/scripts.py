"""Upstream answers the e2e tests script at the fake: Gemini chunks carrying function
calls, wrapped the way the Cloud Code (`v1internal`) or Gemini API routes send them."""

from __future__ import annotations

import base64
from typing import Any

from proxy import jsoncodec
from tests.fakes.replies import Reply

PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def calls_chunk(*calls: tuple[str, dict[str, Any]], with_ids: bool = False) -> dict[str, Any]:
    """One final chunk whose parts are function calls (parallel when several)."""
    parts = []
    for i, (name, args) in enumerate(calls):
        call: dict[str, Any] = {"name": name, "args": args}
        if with_ids:
            call["id"] = f"toolu_up_{i}"
        signature = base64.b64encode(f"sig-tool-{i}".encode()).decode()
        parts.append({"functionCall": call, "thoughtSignature": signature})
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "index": 0, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 7, "totalTokenCount": 19},
        "modelVersion": "fake-model",
    }


def text_chunk(text: str, finish: bool = False) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    chunk: dict[str, Any] = {"candidates": [cand], "modelVersion": "fake-model"}
    if finish:
        cand["finishReason"] = "STOP"
        chunk["usageMetadata"] = {
            "promptTokenCount": 5,
            "candidatesTokenCount": 3,
            "totalTokenCount": 8,
        }
    return chunk


def cloudcode_sse(*chunks: dict[str, Any], **kw: Any) -> Reply:
    """A `v1internal:streamGenerateContent?alt=sse` answer."""
    events = [
        b"data: " + jsoncodec.dumps({"response": c, "traceId": "t1"}) + b"\r\n\r\n" for c in chunks
    ]
    return Reply(events=events, **kw)


def tool_reply(*calls: tuple[str, dict[str, Any]], with_ids: bool = False, **kw: Any) -> Reply:
    """Function calls from the Cloud Code upstream. agproxy collects even non-stream
    answers from `streamGenerateContent` (as the reference client does), so always SSE."""
    return cloudcode_sse(calls_chunk(*calls, with_ids=with_ids), **kw)


def function_responses(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Every functionResponse in a Gemini request, in order."""
    return [
        p["functionResponse"]
        for c in request.get("contents") or []
        for p in c.get("parts") or []
        if "functionResponse" in p
    ]


def function_calls(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        p["functionCall"]
        for c in request.get("contents") or []
        for p in c.get("parts") or []
        if "functionCall" in p
    ]


def inline_data(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        p["inlineData"]
        for c in request.get("contents") or []
        for p in c.get("parts") or []
        if "inlineData" in p
    ]
