"""One call through each face with its official SDK, for the catalogue tests:
`ask(env, face, model, text)` → (reply text, response headers lower-cased);
`fail(env, face, model)` → (HTTP status, error message) of a call that must fail.
Faces: "openai_chat", "openai_responses", "anthropic", "genai" (v1beta, gemini-cli's)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anthropic
import openai
import pytest
from google.genai import errors as genai_errors

from tests.e2e.conftest import E2E

FACES = ("openai_chat", "openai_responses", "anthropic", "genai")



def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def mapped_model(headers: Mapping[str, str]) -> str:
    """The upstream id `X-Agproxy-Mapped-Model` names (before its `; rule=…`)."""
    return _lower(headers)["x-agproxy-mapped-model"].split(";")[0].strip()


def _client(env: E2E, kind: str) -> Any:
    """One SDK client of each kind per proxy (making one costs more than a request)."""
    clients = env.__dict__.setdefault("_catalogue_clients", {})
    if kind not in clients:
        clients[kind] = {"openai": env.openai, "anthropic": env.anthropic,
                         "genai": lambda: env.genai(api_version="v1beta")}[kind]()
    return clients[kind]


async def ask(env: E2E, face: str, model: str, text: str = "hi") -> tuple[str, dict[str, str]]:
    if face == "openai_chat":
        raw = await _client(env, "openai").chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": text}])
        return raw.parse().choices[0].message.content or "", _lower(raw.headers)
    if face == "openai_responses":
        raw_r = await _client(env, "openai").responses.with_raw_response.create(model=model, input=text)
        return raw_r.parse().output_text, _lower(raw_r.headers)
    if face == "anthropic":
        raw_a = await _client(env, "anthropic").messages.with_raw_response.create(
            model=model, max_tokens=256, messages=[{"role": "user", "content": text}])
        msg = await raw_a.parse()
        return "".join(b.text for b in msg.content if b.type == "text"), _lower(raw_a.headers)
    if face == "genai":
        resp = await _client(env, "genai").aio.models.generate_content(model=model, contents=text)
        headers = resp.sdk_http_response.headers if resp.sdk_http_response else None
        return resp.text or "", _lower(headers or {})
    raise ValueError(face)


async def fail(env: E2E, face: str, model: str, text: str = "hi") -> tuple[int, str]:
    """The status and message of a call that must not succeed (AssertionError if it does)."""
    try:
        reply, _ = await ask(env, face, model, text)
    except (openai.APIStatusError, anthropic.APIStatusError) as err:
        return err.status_code, err.message
    except genai_errors.APIError as err:
        return err.code, err.message or ""
    raise AssertionError(f"{face} {model}: answered {reply!r}")
