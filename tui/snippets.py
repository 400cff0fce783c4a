"""Ready-to-paste client set-ups for the Connect tab, with the real base URL and
key (SPEC §12; client quirks from tests/fixtures/clients/README.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Snippet:
    id: str
    title: str
    text: str


def mask_key(key: str) -> str:
    """sk-1234…cdef: enough to recognise a key, not to use it."""
    if len(key) <= 12:
        return "sk-…"
    return f"{key[:6]}…{key[-4:]}"


def connect_snippets(base_url: str, key: str, health_needs_key: bool) -> list[Snippet]:
    base = base_url.rstrip("/")
    auth = f' -H "Authorization: Bearer {key}"' if health_needs_key else ""
    return [
        Snippet("curl", "curl: health check", f"curl{auth} {base}/healthz"),
        Snippet(
            "openai",
            "OpenAI SDK (Python) — base_url ends in /v1",
            "from openai import OpenAI\n"
            f'client = OpenAI(base_url="{base}/v1", api_key="{key}")\n'
            'client.chat.completions.create(model="gemini-2.5-flash",\n'
            '    messages=[{"role": "user", "content": "hi"}])',
        ),
        Snippet(
            "anthropic",
            "Anthropic SDK (Python) — no /v1 suffix",
            "from anthropic import Anthropic\n"
            f'client = Anthropic(base_url="{base}", api_key="{key}")',
        ),
        Snippet(
            "claude",
            "Claude Code",
            f"export ANTHROPIC_BASE_URL={base}\nexport ANTHROPIC_AUTH_TOKEN={key}\nclaude",
        ),
        Snippet(
            "gemini",
            "gemini-cli — also set the auth type in ~/.gemini/settings.json",
            f"export GOOGLE_GEMINI_BASE_URL={base}\n"
            f"export GEMINI_API_KEY={key}\n"
            "# ~/.gemini/settings.json (without it gemini-cli exits 41):\n"
            '#   {"security": {"auth": {"selectedType": "gemini-api-key"}}}\n'
            "gemini",
        ),
        Snippet(
            "codex",
            "Codex CLI — ~/.codex/config.toml, then: export AGPROXY_API_KEY=…",
            'model_provider = "agproxy"\n\n'
            "[model_providers.agproxy]\n"
            'name = "agproxy"\n'
            f'base_url = "{base}/v1"\n'
            'wire_api = "responses"\n'
            'env_key = "AGPROXY_API_KEY"\n'
            f"# export AGPROXY_API_KEY={key}",
        ),
        Snippet(
            "genai",
            "google-genai SDK (Python)",
            "from google import genai\n"
            "from google.genai.types import HttpOptions\n"
            f'client = genai.Client(api_key="{key}", http_options=HttpOptions(base_url="{base}"))',
        ),
    ]
