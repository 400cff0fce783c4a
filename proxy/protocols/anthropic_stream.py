"""Gemini response → Anthropic Messages API: the non-stream reply and the SSE stream
encoder (SPEC §8 "Gemini → Anthropic stream"). Import these via proxy.protocols.anthropic."""

from __future__ import annotations

import uuid
from typing import Any

from proxy import jsoncodec
from proxy.errors import ApiError, Protocol, error_body
from proxy.protocols.common import StreamResult, ToolCall, Usage, sse_event
from proxy.protocols.signatures import SignatureStore, model_family

PING = b'event: ping\ndata: {"type":"ping"}\n\n'


def tool_use_id(call: dict[str, Any]) -> str:
    """The Anthropic id of a Gemini functionCall: its own id when it has one (so the
    replayed history keeps matching), else a fresh `toolu_` id."""
    raw = call.get("id")
    if isinstance(raw, str) and raw:
        return raw if raw.startswith("toolu_") else "toolu_" + raw
    return "toolu_" + uuid.uuid4().hex[:24]


def stop_reason(finish_reason: str | None, tool_called: bool) -> str:
    if tool_called:
        return "tool_use"
    if finish_reason == "MAX_TOKENS":
        return "max_tokens"
    return "end_turn"


def anthropic_usage(usage: Usage) -> dict[str, int]:
    return {
        "input_tokens": max(0, usage.input_tokens - usage.cached_tokens),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": usage.cached_tokens,
        # thinking is output the client pays for, as in Anthropic's own accounting
        "output_tokens": usage.output_tokens,
    }


def _parts(resp: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    candidates = resp.get("candidates")
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        return [], None
    cand = candidates[0]
    content = cand.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return (parts if isinstance(parts, list) else []), cand.get("finishReason")


def from_gemini(
    resp: dict[str, Any],
    *,
    model: str,
    message_id: str,
    signatures: SignatureStore | None = None,
    session_key: str | None = None,
    upstream_model: str | None = None,
    include_thinking: bool = True,
) -> dict[str, Any]:
    """A complete Messages API response from one GenerateContentResponse."""
    parts, finish = _parts(resp)
    claude = model_family(upstream_model or model) == "claude"
    blocks: list[dict[str, Any]] = []
    tool_called = False
    for part in parts:
        if not isinstance(part, dict):
            continue
        sig = part.get("thoughtSignature")
        if "functionCall" in part and isinstance(part["functionCall"], dict):
            call = part["functionCall"]
            tid = tool_use_id(call)
            if sig and signatures is not None:
                signatures.remember(session_key, tid, sig)
            last = blocks[-1] if blocks else None
            if sig and last and last["type"] == "thinking" and not last["signature"] and claude:
                last["signature"] = sig  # as in the stream encoder: Claude may sign the call
                if signatures is not None:
                    signatures.remember_thought(sig, upstream_model or model)
            blocks.append(
                {
                    "type": "tool_use",
                    "id": tid,
                    "name": call.get("name", ""),
                    "input": call.get("args") or {},
                }
            )
            tool_called = True
        elif part.get("thought"):
            if sig and signatures is not None:
                signatures.remember_thought(sig, upstream_model or model)
            if not include_thinking:
                continue
            last = blocks[-1] if blocks else None
            if last is not None and last["type"] == "thinking" and not last["signature"]:
                last["thinking"] += part.get("text") or ""
                last["signature"] = sig or ""
            else:
                blocks.append(
                    {"type": "thinking", "thinking": part.get("text") or "", "signature": sig or ""}
                )
        elif isinstance(part.get("text"), str):
            if not part["text"]:
                continue
            if blocks and blocks[-1]["type"] == "text":
                blocks[-1]["text"] += part["text"]
            else:
                blocks.append({"type": "text", "text": part["text"]})
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop_reason(finish, tool_called),
        "stop_sequence": None,
        "usage": anthropic_usage(Usage.from_gemini(resp.get("usageMetadata"))),
    }


class AnthropicStreamEncoder:
    """Feed unwrapped Gemini stream chunks, get Anthropic SSE bytes, in the exact order
    message_start → (content_block_start, deltas, content_block_stop)* → message_delta
    → message_stop. A thinking block's signature_delta comes right before its stop."""

    def __init__(
        self,
        model: str,
        message_id: str,
        signatures: SignatureStore | None = None,
        session_key: str | None = None,
        *,
        upstream_model: str | None = None,
        include_thinking: bool = True,
    ) -> None:
        self.model = model
        self.message_id = message_id
        self.signatures = signatures
        self.session_key = session_key
        self.upstream_model = upstream_model or model
        self._claude = model_family(self.upstream_model) == "claude"
        self.include_thinking = include_thinking
        self.result = StreamResult()
        self._started = False
        self._done = False
        self._index = -1
        self._open: str | None = None  # "thinking" | "text" while a block is open
        self._signature = ""  # pending signature of the open thinking block
        self._finish: str | None = None
        self._usage_meta: dict[str, Any] | None = None

    def feed(self, chunk: dict[str, Any]) -> bytes:
        if self._done:
            return b""
        out: list[bytes] = []
        meta = chunk.get("usageMetadata")
        if isinstance(meta, dict):
            self._usage_meta = meta
        if not self._started:
            out.append(self._message_start())
        parts, finish = _parts(chunk)
        for part in parts:
            if isinstance(part, dict):
                self._part(part, out)
        if finish:
            self._finish = finish
        return b"".join(out)

    def finish(self) -> bytes:
        if self._done:
            return b""
        out: list[bytes] = []
        if not self._started:
            out.append(self._message_start())
        self._close(out)
        self._done = True
        usage = Usage.from_gemini(self._usage_meta)
        reason = stop_reason(self._finish, bool(self.result.tool_calls))
        self.result.usage = usage
        self.result.finish_reason = reason
        out.append(
            sse_event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": None},
                    "usage": anthropic_usage(usage),
                },
            )
        )
        out.append(sse_event("message_stop", {"type": "message_stop"}))
        return b"".join(out)

    def fail(self, err: ApiError) -> bytes:
        """An `event: error` frame; the stream is over after it."""
        self._done = True
        self.result.finish_reason = "error"
        return sse_event("error", error_body(Protocol.ANTHROPIC, err))

    def ping(self) -> bytes:
        return PING

    @property
    def started(self) -> bool:
        """Whether message_start went out (a `ping` event is only valid after it)."""
        return self._started

    # ---- internals ----

    def _message_start(self) -> bytes:
        self._started = True
        usage = anthropic_usage(Usage.from_gemini(self._usage_meta))
        usage["output_tokens"] = 0
        return sse_event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": self.message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage,
                },
            },
        )

    def _part(self, part: dict[str, Any], out: list[bytes]) -> None:
        sig = part.get("thoughtSignature")
        call = part.get("functionCall")
        if isinstance(call, dict):
            if sig and self._open == "thinking" and not self._signature and self._claude:
                # Claude behind Antigravity may sign the call rather than the thoughts; the
                # client only keeps signatures on thinking blocks, so put it there too
                self._signature = sig
                if self.signatures is not None:
                    self.signatures.remember_thought(sig, self.upstream_model)
            self._close(out)
            self._tool_use(call, sig, out)
            return
        text = part.get("text")
        if part.get("thought"):
            if sig and self.signatures is not None:
                self.signatures.remember_thought(sig, self.upstream_model)
            if not self.include_thinking:
                return
            if self._open != "thinking" or (self._signature and text):
                self._close(out)  # a signed thinking block is complete; more thought opens another
                self._start("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
            if isinstance(text, str) and text:
                self.result.thinking += text
                self._delta({"type": "thinking_delta", "thinking": text}, out)
            if sig:
                self._signature = sig
            return
        if isinstance(text, str) and text:
            if self._open != "text":
                self._close(out)
                self._start("text", {"type": "text", "text": ""}, out)
            self.result.text += text
            self._delta({"type": "text_delta", "text": text}, out)
        elif sig and self._open == "thinking" and not self._signature:
            self._signature = sig  # Gemini may sign thoughts in a trailing empty part

    def _tool_use(self, call: dict[str, Any], sig: Any, out: list[bytes]) -> None:
        tid = tool_use_id(call)
        name = call.get("name")
        name = name if isinstance(name, str) else ""
        args = call.get("args")
        args = args if isinstance(args, dict) else {}
        if isinstance(sig, str) and sig and self.signatures is not None:
            self.signatures.remember(self.session_key, tid, sig)
        self.result.tool_calls.append(ToolCall(tid, name, args))
        self._start("tool_use", {"type": "tool_use", "id": tid, "name": name, "input": {}}, out)
        self._delta(
            {"type": "input_json_delta", "partial_json": jsoncodec.dumps(args).decode()}, out
        )
        self._close(out)

    def _start(self, kind: str, block: dict[str, Any], out: list[bytes]) -> None:
        self._index += 1
        self._open = kind
        out.append(
            sse_event(
                "content_block_start",
                {"type": "content_block_start", "index": self._index, "content_block": block},
            )
        )

    def _delta(self, delta: dict[str, Any], out: list[bytes]) -> None:
        out.append(
            sse_event(
                "content_block_delta",
                {"type": "content_block_delta", "index": self._index, "delta": delta},
            )
        )

    def _close(self, out: list[bytes]) -> None:
        if self._open is None:
            return
        if self._open == "thinking" and self._signature:
            self._delta({"type": "signature_delta", "signature": self._signature}, out)
        self._signature = ""
        out.append(
            sse_event("content_block_stop", {"type": "content_block_stop", "index": self._index})
        )
        self._open = None
