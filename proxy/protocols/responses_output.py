"""Gemini -> OpenAI Responses API: the `response` object and its SSE event stream
(response.created ... response.completed), both built by one item builder so the
stream and the non-stream reply always agree. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proxy import jsoncodec
from proxy.errors import ApiError, ErrorKind
from proxy.protocols.common import StreamResult, ToolCall, Usage, sse_event
from proxy.protocols.openai_common import finish_kind, new_call_id, remember_signature
from proxy.protocols.signatures import SignatureStore

Emit = Callable[[str, dict[str, Any]], None]

# ApiError kind -> the Responses `error.code` Codex acts on (it retries rate limits).
_ERROR_CODE = {
    ErrorKind.RATE_LIMIT: "rate_limit_exceeded",
    ErrorKind.INVALID_REQUEST: "invalid_prompt",
}


def usage_dict(u: Usage) -> dict[str, Any]:
    return {
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.thinking_tokens},
        "total_tokens": u.input_tokens + u.output_tokens,
    }


class _ItemBuilder:
    """Turns Gemini parts into Responses output items; `emit` (if given) receives the
    stream events as they happen."""

    def __init__(
        self,
        response_id: str,
        tool_names: dict[str, dict[str, str]] | None,
        signatures: SignatureStore | None,
        session_key: str | None,
        emit: Emit | None,
    ) -> None:
        self._base = response_id.removeprefix("resp_")
        self._tool_names = tool_names or {}
        self._signatures = signatures
        self._session_key = session_key
        self._emit = emit
        self.items: list[dict[str, Any]] = []
        self.calls: list[ToolCall] = []
        self.text: list[str] = []
        self.thinking: list[str] = []
        self._open: dict[str, Any] | None = None  # the reasoning/message item being written
        self._buf: list[str] = []

    def _ev(self, kind: str, payload: dict[str, Any]) -> None:
        if self._emit is not None:
            self._emit(kind, payload)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{self._base}{len(self.items)}"

    def part(self, part: dict[str, Any]) -> None:
        call = part.get("functionCall")
        if call is not None:
            self._function_call(call, part)
        elif part.get("text"):
            self._text(part["text"], "reasoning" if part.get("thought") else "message")

    def _text(self, text: str, kind: str) -> None:
        if self._open is None or self._open["type"] != kind:
            self.close()
            self._start(kind)
        assert self._open is not None
        self._buf.append(text)
        idx = len(self.items) - 1
        if kind == "message":
            self.text.append(text)
            self._ev(
                "response.output_text.delta",
                {
                    "item_id": self._open["id"],
                    "output_index": idx,
                    "content_index": 0,
                    "delta": text,
                    "logprobs": [],
                },
            )
        else:
            self.thinking.append(text)
            self._ev(
                "response.reasoning_summary_text.delta",
                {
                    "item_id": self._open["id"],
                    "output_index": idx,
                    "summary_index": 0,
                    "delta": text,
                },
            )

    def _start(self, kind: str) -> None:
        if kind == "message":
            item = {
                "id": self._new_id("msg"),
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
        else:
            item = {"id": self._new_id("rs"), "type": "reasoning", "summary": []}
        self.items.append(item)
        self._open, self._buf = item, []
        idx = len(self.items) - 1
        self._ev("response.output_item.added", {"output_index": idx, "item": item})
        if kind == "message":
            self._ev(
                "response.content_part.added",
                {
                    "item_id": item["id"],
                    "output_index": idx,
                    "content_index": 0,
                    "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []},
                },
            )
        else:
            self._ev(
                "response.reasoning_summary_part.added",
                {
                    "item_id": item["id"],
                    "output_index": idx,
                    "summary_index": 0,
                    "part": {"type": "summary_text", "text": ""},
                },
            )

    def close(self, status: str = "completed") -> None:
        item = self._open
        if item is None:
            return
        self._open = None
        text = "".join(self._buf)
        idx = len(self.items) - 1
        if item["type"] == "message":
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            item["content"] = [part]
            item["status"] = status
            self._ev(
                "response.output_text.done",
                {
                    "item_id": item["id"],
                    "output_index": idx,
                    "content_index": 0,
                    "text": text,
                    "logprobs": [],
                },
            )
            self._ev(
                "response.content_part.done",
                {"item_id": item["id"], "output_index": idx, "content_index": 0, "part": part},
            )
        else:
            part = {"type": "summary_text", "text": text}
            item["summary"] = [part]
            self._ev(
                "response.reasoning_summary_text.done",
                {"item_id": item["id"], "output_index": idx, "summary_index": 0, "text": text},
            )
            self._ev(
                "response.reasoning_summary_part.done",
                {"item_id": item["id"], "output_index": idx, "summary_index": 0, "part": part},
            )
        self._ev("response.output_item.done", {"output_index": idx, "item": item})

    def _function_call(self, call: dict[str, Any], part: dict[str, Any]) -> None:
        self.close()
        call_id = call.get("id") or new_call_id()
        remember_signature(self._signatures, self._session_key, call_id, part)
        gname = call.get("name", "")
        args = call.get("args") or {}
        arguments = jsoncodec.dumps(args).decode()
        item: dict[str, Any] = {
            "id": self._new_id("fc"),
            "type": "function_call",
            "status": "in_progress",
            "call_id": call_id,
            "arguments": "",
        }
        mapped = self._tool_names.get(gname)
        item["name"] = mapped["name"] if mapped else gname
        if mapped:
            item["namespace"] = mapped["namespace"]
        self.items.append(item)
        self.calls.append(ToolCall(call_id, item["name"], args))
        idx = len(self.items) - 1
        self._ev("response.output_item.added", {"output_index": idx, "item": item})
        self._ev(
            "response.function_call_arguments.delta",
            {"item_id": item["id"], "output_index": idx, "delta": arguments},
        )
        self._ev(
            "response.function_call_arguments.done",
            {
                "item_id": item["id"],
                "output_index": idx,
                "arguments": arguments,
                "name": item["name"],
            },
        )
        item["arguments"] = arguments
        item["status"] = "completed"
        self._ev("response.output_item.done", {"output_index": idx, "item": item})


def _outcome(reason: str | None, blocked: bool) -> tuple[str, dict[str, Any] | None]:
    """(status, incomplete_details) for a Gemini finishReason."""
    kind = "content_filter" if blocked else finish_kind(reason)
    if kind == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if kind == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def response_object(
    *,
    response_id: str,
    created: int,
    model: str,
    echo: dict[str, Any] | None,
    status: str,
    output: list[dict[str, Any]],
    usage: Usage | None,
    incomplete: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "model": model,
        "status": status,
        "output": output,
        "error": error,
        "incomplete_details": incomplete,
        "tools": [],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
    }
    if echo:
        obj.update(echo)
    obj["usage"] = usage_dict(usage) if usage is not None else None
    return obj


def from_gemini(
    resp: dict[str, Any],
    *,
    model: str,
    response_id: str,
    created: int,
    request_echo: dict[str, Any] | None = None,
    tool_names: dict[str, dict[str, str]] | None = None,
    signatures: SignatureStore | None = None,
    session_key: str | None = None,
) -> dict[str, Any]:
    """A GenerateContentResponse -> a Responses `response` object."""
    builder = _ItemBuilder(response_id, tool_names, signatures, session_key, None)
    cand = (resp.get("candidates") or [{}])[0]
    for part in (cand.get("content") or {}).get("parts") or ():
        builder.part(part)
    blocked = not resp.get("candidates") and bool(
        (resp.get("promptFeedback") or {}).get("blockReason")
    )
    status, incomplete = _outcome(cand.get("finishReason"), blocked)
    builder.close("incomplete" if status == "incomplete" else "completed")
    return response_object(
        response_id=response_id,
        created=created,
        model=model,
        echo=request_echo,
        status=status,
        output=builder.items,
        incomplete=incomplete,
        usage=Usage.from_gemini(resp.get("usageMetadata")),
    )


class ResponsesStreamEncoder:
    """Gemini stream chunks -> Responses SSE events (`event: <type>` + `data:`), each
    with a rising `sequence_number`. `.output_items` is the turn to save in the store."""

    def __init__(
        self,
        model: str,
        response_id: str,
        created: int,
        request_echo: dict[str, Any] | None = None,
        *,
        tool_names: dict[str, dict[str, str]] | None = None,
        signatures: SignatureStore | None = None,
        session_key: str | None = None,
    ) -> None:
        self._meta: dict[str, Any] = {
            "response_id": response_id,
            "created": created,
            "model": model,
            "echo": request_echo,
        }
        self._seq = 0
        self._out: list[bytes] = []
        self._builder = _ItemBuilder(response_id, tool_names, signatures, session_key, self._emit)
        self._usage = Usage()
        self._reason: str | None = None
        self._blocked = False
        self._started = False
        self._done = False

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        payload["type"] = kind
        payload["sequence_number"] = self._seq
        self._seq += 1
        self._out.append(sse_event(kind, payload))

    def _flush(self) -> bytes:
        out, self._out = b"".join(self._out), []
        return out

    def _response(
        self, status: str, output: list[dict[str, Any]], usage: Usage | None, **extra: Any
    ) -> dict[str, Any]:
        return response_object(status=status, output=output, usage=usage, **self._meta, **extra)

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._emit("response.created", {"response": self._response("in_progress", [], None)})
            self._emit(
                "response.in_progress", {"response": self._response("in_progress", [], None)}
            )

    def feed(self, chunk: dict[str, Any]) -> bytes:
        self._start()
        if chunk.get("usageMetadata"):
            self._usage = Usage.from_gemini(chunk["usageMetadata"])
        if (chunk.get("promptFeedback") or {}).get("blockReason"):
            self._blocked = True
        cands = chunk.get("candidates") or ()
        if cands:
            cand = cands[0]  # Responses has no n>1
            for part in (cand.get("content") or {}).get("parts") or ():
                self._builder.part(part)
            if cand.get("finishReason"):
                self._reason = cand["finishReason"]
        return self._flush()

    def finish(self) -> bytes:
        if self._done:
            return b""
        self._start()
        self._done = True
        status, incomplete = _outcome(self._reason, self._blocked and not self._builder.items)
        self._builder.close("incomplete" if status == "incomplete" else "completed")
        kind = "response.completed" if status == "completed" else "response.incomplete"
        self._emit(
            kind,
            {
                "response": self._response(
                    status, self._builder.items, self._usage, incomplete=incomplete
                )
            },
        )
        return self._flush()

    def fail(self, err: ApiError) -> bytes:
        if self._done:
            return b""
        self._start()
        self._done = True
        message = err.message
        if err.retry_after is not None:  # Codex parses this hint to time its retry
            message = f"{message} Please try again in {err.retry_after:.3g}s."
        error = {"code": _ERROR_CODE.get(err.kind, "server_error"), "message": message}
        self._emit(
            "response.failed",
            {"response": self._response("failed", self._builder.items, self._usage, error=error)},
        )
        return self._flush()

    @property
    def output_items(self) -> list[dict[str, Any]]:
        return self._builder.items

    @property
    def result(self) -> StreamResult:
        b = self._builder
        reason = "tool_calls" if b.calls else (finish_kind(self._reason) if self._reason else "")
        return StreamResult(
            text="".join(b.text),
            thinking="".join(b.thinking),
            tool_calls=list(b.calls),
            usage=self._usage,
            finish_reason=reason,
        )
