"""Gemini -> OpenAI Chat Completions: the `chat.completion` reply and the
`chat.completion.chunk` stream encoder (SPEC §8). Pure: no I/O."""

from __future__ import annotations

from typing import Any

from proxy import jsoncodec
from proxy.errors import ApiError, Protocol, error_body
from proxy.protocols.common import StreamResult, ToolCall, Usage, sse_data
from proxy.protocols.openai_common import finish_kind, new_call_id, remember_signature
from proxy.protocols.signatures import SignatureStore

_DONE = b"data: [DONE]\n\n"


def _usage_dict(u: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.thinking_tokens},
    }


class _Choice:
    """What one candidate has produced so far (shared by reply and stream)."""

    __slots__ = ("calls", "reason", "started", "text", "thinking")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.calls: list[ToolCall] = []
        self.reason: str | None = None
        self.started = False

    def absorb(
        self, cand: dict[str, Any], signatures: SignatureStore | None, session_key: str | None
    ) -> dict[str, Any]:
        """Take a candidate's parts; return the OpenAI delta they amount to."""
        delta: dict[str, Any] = {}
        for part in (cand.get("content") or {}).get("parts") or ():
            call = part.get("functionCall")
            if call is not None:
                call_id = call.get("id") or new_call_id()
                args = call.get("args") or {}
                self.calls.append(ToolCall(call_id, call.get("name", ""), args))
                remember_signature(signatures, session_key, call_id, part)
                delta.setdefault("tool_calls", []).append(
                    {
                        "index": len(self.calls) - 1,
                        "id": call_id,
                        "type": "function",
                        "function": {
                            "name": call.get("name", ""),
                            "arguments": jsoncodec.dumps(args).decode(),
                        },
                    }
                )
            elif part.get("text"):
                key, sink = (
                    ("reasoning_content", self.thinking)
                    if part.get("thought")
                    else ("content", self.text)
                )
                sink.append(part["text"])
                delta[key] = delta.get(key, "") + part["text"]
        if cand.get("finishReason"):
            self.reason = cand["finishReason"]
        return delta

    def finish_reason(self) -> str:
        return "tool_calls" if self.calls else finish_kind(self.reason)


def _candidates(resp: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return [(c.get("index", i) or 0, c) for i, c in enumerate(resp.get("candidates") or ())]


def from_gemini(
    resp: dict[str, Any],
    *,
    model: str,
    created: int,
    completion_id: str,
    signatures: SignatureStore | None = None,
    session_key: str | None = None,
) -> dict[str, Any]:
    """A GenerateContentResponse -> a `chat.completion` object."""
    choices = []
    for index, cand in _candidates(resp) or [(0, {})]:
        ch = _Choice()
        ch.absorb(cand, signatures, session_key)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(ch.text) or None,
            "refusal": None,
        }
        if ch.thinking:
            message["reasoning_content"] = "".join(ch.thinking)
        if ch.calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {
                        "name": c.name,
                        "arguments": jsoncodec.dumps(c.arguments).decode(),
                    },
                }
                for c in ch.calls
            ]
        reason = ch.finish_reason() if cand else _blocked_reason(resp)
        choices.append(
            {"index": index, "message": message, "finish_reason": reason, "logprobs": None}
        )
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": _usage_dict(Usage.from_gemini(resp.get("usageMetadata"))),
        "system_fingerprint": None,
    }


def _blocked_reason(resp: dict[str, Any]) -> str:
    # No candidate at all: the prompt itself was blocked.
    return "content_filter" if (resp.get("promptFeedback") or {}).get("blockReason") else "stop"


class OpenAIChatStreamEncoder:
    """Gemini stream chunks -> `data: {chat.completion.chunk}` events, then [DONE]."""

    def __init__(
        self,
        model: str,
        completion_id: str,
        created: int,
        include_usage: bool,
        signatures: SignatureStore | None = None,
        session_key: str | None = None,
    ) -> None:
        self._head = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        self._include_usage = include_usage
        self._signatures = signatures
        self._session_key = session_key
        self._choices: dict[int, _Choice] = {}
        self._usage = Usage()
        self._blocked = False
        self._done = False

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return sse_data({**self._head, "choices": choices, **extra})

    def feed(self, chunk: dict[str, Any]) -> bytes:
        if chunk.get("usageMetadata"):
            self._usage = Usage.from_gemini(chunk["usageMetadata"])
        if (chunk.get("promptFeedback") or {}).get("blockReason"):
            self._blocked = True
        out = []
        for index, cand in _candidates(chunk):
            ch = self._choices.setdefault(index, _Choice())
            delta = ch.absorb(cand, self._signatures, self._session_key)
            if not delta:
                continue
            if not ch.started:  # the first delta of a choice names the role
                ch.started = True
                delta = {"role": "assistant", **delta}
            out.append(
                self._chunk(
                    [{"index": index, "delta": delta, "finish_reason": None, "logprobs": None}]
                )
            )
        return b"".join(out)

    def finish(self) -> bytes:
        if self._done:
            return b""
        self._done = True
        if not self._choices:
            self._choices[0] = _Choice()
        finals = []
        for index, ch in sorted(self._choices.items()):
            delta: dict[str, Any] = {} if ch.started else {"role": "assistant", "content": ""}
            reason = "content_filter" if self._blocked and not ch.started else ch.finish_reason()
            finals.append(
                {"index": index, "delta": delta, "finish_reason": reason, "logprobs": None}
            )
        out = [self._chunk(finals)]
        if self._include_usage:
            out.append(self._chunk([], usage=_usage_dict(self._usage)))
        out.append(_DONE)
        return b"".join(out)

    def fail(self, err: ApiError) -> bytes:
        if self._done:
            return b""
        self._done = True
        return sse_data(error_body(Protocol.OPENAI, err)) + _DONE

    @property
    def result(self) -> StreamResult:
        first = self._choices.get(0) or _Choice()
        return StreamResult(
            text="".join(first.text),
            thinking="".join(first.thinking),
            tool_calls=[c for ch in self._choices.values() for c in ch.calls],
            usage=self._usage,
            finish_reason=first.finish_reason() if self._choices else "",
        )
