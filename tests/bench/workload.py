"""The requests the benchmark sends: per protocol (OpenAI chat, Anthropic messages,
Gemini generateContent) and the equivalent direct call to the fake upstream (the
exact `v1internal:streamGenerateContent` envelope the proxy itself sends), each
rendered once to raw HTTP/1.1 bytes on disk for the load generator.

Sizes: a small "hi" request, a 500-chunk stream (the fake answers it when the prompt
carries LONG_MARKER), a 20 MiB agent-style request (long history, tool calls and
results, base64 images) and the captured Claude Code request (stream off)."""

from __future__ import annotations

import base64
import functools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxy import jsoncodec
from tests.bench.fastfake import LONG_MARKER

PROTOCOLS = ("openai", "anthropic", "gemini")
API_KEY = "sk-bench-0123456789abcdef"
UPSTREAM_TOKEN = "ya29.bench-access-token"
PROJECT = "p"
MODELS = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}
CLAUDE_CODE_CAPTURE = (
    Path(__file__).resolve().parents[1] / "fixtures/clients/claude-apikey/002-POST-v1_messages.json"
)


@dataclass
class Exchange:
    """Raw request bytes for the proxy and for the direct call they stand against."""

    proxy: bytes
    direct: bytes
    body_bytes: int


def _http(port: int, target: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        f"POST {target} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _dumps(obj: Any) -> bytes:
    return jsoncodec.dumps(obj)


def proxy_request(port: int, protocol: str, body: dict[str, Any], stream: bool) -> bytes:
    """The request a client of that protocol sends (its own key carrier and headers)."""
    if protocol == "openai":
        return _http(
            port, "/v1/chat/completions", _dumps(body), {"Authorization": f"Bearer {API_KEY}"}
        )
    if protocol == "anthropic":
        return _http(
            port,
            "/v1/messages",
            _dumps(body),
            {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"},
        )
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return _http(
        port,
        f"/v1beta/models/{MODELS['gemini']}:{method}",
        _dumps(body),
        {"x-goog-api-key": API_KEY},
    )


def direct_request(port: int, gemini: dict[str, Any]) -> bytes:
    """What the proxy sends upstream for the same call (Antigravity envelope, SSE)."""
    envelope = {
        "project": PROJECT,
        "model": MODELS["gemini"],
        "request": gemini,
        "requestType": "agent",
        "userAgent": "antigravity",
        "requestId": "agent-00000000-0000-0000-0000-000000000000",
    }
    return _http(
        port,
        "/v1internal:streamGenerateContent?alt=sse",
        _dumps(envelope),
        {"Authorization": f"Bearer {UPSTREAM_TOKEN}", "Accept": "text/event-stream"},
    )


def simple(protocol: str, text: str, stream: bool) -> dict[str, Any]:
    if protocol == "openai":
        body: dict[str, Any] = {
            "model": MODELS["openai"],
            "messages": [{"role": "user", "content": text}],
        }
    elif protocol == "anthropic":
        body = {
            "model": MODELS["anthropic"],
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": text}],
        }
    else:
        return {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    if stream:
        body["stream"] = True
    return body


def small(
    proxy_port: int, fake_port: int, protocol: str, stream: bool = False, text: str = "hi"
) -> Exchange:
    body = simple(protocol, text, stream)
    direct = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    raw = proxy_request(proxy_port, protocol, body, stream)
    return Exchange(raw, direct_request(fake_port, direct), len(_dumps(body)))


def long_stream(proxy_port: int, fake_port: int, protocol: str) -> Exchange:
    return small(
        proxy_port, fake_port, protocol, stream=True, text="stream please " + LONG_MARKER.decode()
    )


def claude_code(proxy_port: int) -> bytes:
    """The captured Claude Code request, as it was sent but with `stream: false`."""
    capture = json.loads(CLAUDE_CODE_CAPTURE.read_text())
    body = capture["body"]
    body["stream"] = False
    return proxy_request(proxy_port, "anthropic", body, False)


# -- the 20 MiB agent session --------------------------------------------------------------


def _image(rng: random.Random, size: int) -> str:
    png = b"\x89PNG\r\n\x1a\n" + rng.randbytes(size)
    return base64.b64encode(png).decode()


_TOOL: dict[str, Any] = {
    "name": "read_file",
    "description": "Read a file from the workspace. " * 8,
    "schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
}


@functools.lru_cache(maxsize=2)
def _history(target_mib: float, seed: int) -> tuple[tuple[str, str, dict[str, Any], str], ...]:
    rng = random.Random(seed)
    words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor".split()  # noqa: SIM905
    turn_bytes = 8_000 + 200_000 + 4 * 300_000 // 3
    turns = max(1, int(target_mib * 1024 * 1024 / turn_bytes))
    line = [" ".join(rng.choice(words) for _ in range(6)) for _ in range(64)]
    history = []
    for i in range(turns):
        text = f"turn {i}: " + " ".join(rng.choice(words) for _ in range(1300))
        result = "\n".join(f"{n:6d}  {line[(n * 7 + i) % 64]}" for n in range(4500))
        history.append((text, _image(rng, 300_000), {"path": f"src/module_{i}.py"}, result))
    return tuple(history)


def agent_session(protocol: str, target_mib: float = 20.0, seed: int = 7) -> dict[str, Any]:
    """A long coding-agent history: each turn is a user message (text + screenshot),
    an assistant reply with a tool call, and the tool's large result."""
    history = _history(target_mib, seed)
    tool = _TOOL
    final = "now fix the failing test"
    if protocol == "openai":
        msgs: list[dict[str, Any]] = [{"role": "system", "content": "You are a coding agent."}]
        for i, (text, img, args, result) in enumerate(history):
            msgs.append(
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": text},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{img}"}},
                    ],
                }
            )
            msgs.append(
                {
                    "role": "assistant",
                    "content": "Let me read it.",
                    "tool_calls": [
                        {
                            "id": f"call_{i}",
                            "type": "function",
                            "function": {"name": "read_file", "arguments": json.dumps(args)},
                        }
                    ],
                }
            )
            msgs.append({"role": "tool", "tool_call_id": f"call_{i}", "content": result})
        msgs.append({"role": "user", "content": final})
        return {
            "model": MODELS["openai"],
            "messages": msgs,
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": tool["name"],
                        "description": tool["description"],
                        "parameters": tool["schema"],
                    },
                }
            ],
        }
    if protocol == "anthropic":
        amsgs: list[dict[str, Any]] = []
        pending: list[dict[str, Any]] = []
        for i, (text, img, args, result) in enumerate(history):
            amsgs.append(
                {
                    "role": "user",
                    "content": [
                        *pending,
                        {"type": "text", "text": text},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": img},
                        },
                    ],
                }
            )
            amsgs.append(
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Let me read it."},
                        {
                            "type": "tool_use",
                            "id": f"toolu_{i:04d}",
                            "name": "read_file",
                            "input": args,
                        },
                    ],
                }
            )
            pending = [{"type": "tool_result", "tool_use_id": f"toolu_{i:04d}", "content": result}]
        amsgs.append({"role": "user", "content": [*pending, {"type": "text", "text": final}]})
        return {
            "model": MODELS["anthropic"],
            "max_tokens": 4096,
            "system": "You are a coding agent.",
            "messages": amsgs,
            "tools": [
                {
                    "name": tool["name"],
                    "description": tool["description"],
                    "input_schema": tool["schema"],
                }
            ],
        }
    contents: list[dict[str, Any]] = []
    response_parts: list[dict[str, Any]] = []
    for text, img, args, result in history:
        contents.append(
            {
                "role": "user",
                "parts": [
                    *response_parts,
                    {"text": text},
                    {"inlineData": {"mimeType": "image/png", "data": img}},
                ],
            }
        )
        contents.append(
            {
                "role": "model",
                "parts": [
                    {"text": "Let me read it."},
                    {"functionCall": {"name": "read_file", "args": args}},
                ],
            }
        )
        response_parts = [
            {"functionResponse": {"name": "read_file", "response": {"content": result}}}
        ]
    contents.append({"role": "user", "parts": [*response_parts, {"text": final}]})
    return {
        "systemInstruction": {"parts": [{"text": "You are a coding agent."}]},
        "contents": contents,
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": tool["name"],
                        "description": tool["description"],
                        "parameters": tool["schema"],
                    }
                ]
            }
        ],
    }


def big(proxy_port: int, fake_port: int, protocol: str) -> Exchange:
    body = agent_session(protocol)
    raw_body = _dumps(body)
    raw = proxy_request(proxy_port, protocol, body, False)
    return Exchange(raw, direct_request(fake_port, agent_session("gemini")), len(raw_body))
