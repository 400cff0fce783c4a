"""What of a request's bodies the monitor keeps (SPEC §11 `capture_bodies`, `max_body_kb`):
the capture policy, truncation that never splits a token, and redaction (via proxy.redact)."""

from __future__ import annotations

from typing import Any

from proxy import jsoncodec
from proxy.redact import redact_text

# Characters secrets are made of (API keys, OAuth tokens, JWT-ish strings).
_TOKEN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~+/=-"
_TOKEN_SET = frozenset(_TOKEN_CHARS)
# Longer runs of token characters are data (base64 images), not credentials.
_MAX_TOKEN = 4096


def should_capture(mode: str, status: int, error: str) -> bool:
    if mode == "all":
        return True
    if mode == "errors":
        return status >= 400 or bool(error)
    return False


def capture_body(data: bytes | str | None, limit: int, total: int | None = None) -> str:
    """Decoded, truncated to about `limit` bytes, secrets redacted. `total` is the whole
    body's size when `data` is only its head (large bodies are not kept whole).

    Redaction runs after truncation (so a 20 MiB body costs only `limit` bytes of regex
    work), which is safe because the cut never leaves the start of a token behind: a
    partial secret could escape the redaction patterns.
    """
    if not data:
        return ""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    total = max(total or 0, len(data))
    suffix = ""
    if total > limit:
        head = data[:limit]
        if len(data) > limit and data[limit] in _TOKEN_SET:
            # the cut splits a run of token characters: drop its start, unless the run is
            # so long it is data (base64), not a credential
            stripped = head.rstrip(_TOKEN_CHARS)
            if len(head) - len(stripped) <= _MAX_TOKEN:
                head = stripped
        data = head
        suffix = f"\n…[truncated: {total} bytes in all]"
    return redact_text(data.decode("utf-8", "replace")) + suffix


def capture_summary(summary: dict[str, Any], limit: int) -> tuple[dict[str, Any] | None, str]:
    """A stream's consolidated result, redacted. Too big to keep as a dict: (None, text)."""
    raw = jsoncodec.dumps(summary)
    if len(raw) > limit:
        return None, capture_body(raw, limit)
    text = raw.decode("utf-8", "replace")
    redacted = redact_text(text)
    if redacted == text:
        return summary, ""
    try:
        return jsoncodec.loads(redacted), ""
    except ValueError:  # a redaction marker that is not JSON-safe: keep it as text
        return None, redacted
