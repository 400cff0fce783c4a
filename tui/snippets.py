"""Ready-to-paste client set-ups for the Connect tab, with the real base URL and
key (SPEC §12; client quirks from tests/fixtures/clients/README.md). Every line
fits 76 columns with a loopback URL and a full key (shell lines continue with
`\\`), so an 80-column Connect tab never wraps a command into two."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Snippet:
    id: str
    title: str
    text: str


def connect_snippets(base_url: str, key: str, auth_mode: str) -> list[Snippet]:
    """`auth_mode` is what the proxy enforces: the key header goes where it is needed
    (every path under `strict`, every path but /healthz under `all_except_health`)."""
    base = base_url.rstrip("/")
    header = f'-H "Authorization: Bearer {key}"'
    health = (
        f"curl {header} \\\n  {base}/healthz" if auth_mode == "strict" else f"curl {base}/healthz"
    )
    chat = (
        f"curl {base}/v1/chat/completions \\\n"
        + (f"  {header} \\\n" if auth_mode != "off" else "")
        + '  -H "Content-Type: application/json" \\\n'
        + '  -d \'{"model": "gemini-2.5-flash",\n'
        + '       "messages": [{"role": "user", "content": "hi"}]}\''
    )
    return [
        Snippet("curl", "curl: health check, then a chat", f"{health}\n{chat}"),
        Snippet(
            "openai",
            "OpenAI SDK (Python) — base_url ends in /v1",
            "from openai import OpenAI\n"
            f'client = OpenAI(base_url="{base}/v1",\n'
            f'                api_key="{key}")\n'
            "reply = client.chat.completions.create(\n"
            '    model="gemini-2.5-flash",\n'
            '    messages=[{"role": "user", "content": "hi"}])\n'
            "print(reply.choices[0].message.content)",
        ),
        Snippet(
            "anthropic",
            "Anthropic SDK (Python) — no /v1 suffix",
            "from anthropic import Anthropic\n"
            f'client = Anthropic(base_url="{base}",\n'
            f'                   api_key="{key}")\n'
            "reply = client.messages.create(\n"
            '    model="claude-sonnet-4-6", max_tokens=512,\n'
            '    messages=[{"role": "user", "content": "hi"}])\n'
            "print(reply.content[0].text)",
        ),
        Snippet(
            "claude",
            "Claude Code",
            f"export ANTHROPIC_BASE_URL={base}\nexport ANTHROPIC_AUTH_TOKEN={key}\nclaude",
        ),
        Snippet(
            "gemini",
            "gemini-cli — two steps",
            "# 1. once: ~/.gemini/settings.json must select the API-key auth\n"
            '#    (without it gemini-cli exits 41: "Invalid auth method selected")\n'
            '#    {"security": {"auth": {"selectedType": "gemini-api-key"}}}\n'
            "# 2. then:\n"
            f"export GOOGLE_GEMINI_BASE_URL={base}\n"
            f"export GEMINI_API_KEY={key}\n"
            "export GEMINI_CLI_TRUST_WORKSPACE=true  # else gemini -p exits 55\n"
            'gemini -p "hi"',
        ),
        Snippet(
            "codex",
            "Codex CLI — ~/.codex/config.toml (top-level keys before the table)",
            'model = "gpt-5"\n'
            'model_provider = "agproxy"\n\n'
            "[model_providers.agproxy]\n"
            'name = "agproxy"\n'
            f'base_url = "{base}/v1"\n'
            'wire_api = "responses"\n'
            'env_key = "AGPROXY_API_KEY"\n'
            "# then, in the shell:\n"
            f"#   export AGPROXY_API_KEY={key}",
        ),
        Snippet(
            "codex-builtin",
            "Codex CLI — built-in provider: log in with the key once",
            f"export OPENAI_API_KEY={key}\n"
            "printenv OPENAI_API_KEY | codex login --with-api-key\n"
            f"codex -c openai_base_url={base}/v1",
        ),
        Snippet(
            "genai",
            "google-genai SDK (Python)",
            "from google import genai\n"
            "from google.genai.types import HttpOptions\n"
            f'client = genai.Client(api_key="{key}",\n'
            f'    http_options=HttpOptions(base_url="{base}"))\n'
            "reply = client.models.generate_content(\n"
            '    model="gemini-2.5-flash", contents="hi")\n'
            "print(reply.text)",
        ),
    ]
