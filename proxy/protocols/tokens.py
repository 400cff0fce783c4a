"""A local token estimate for Anthropic `count_tokens` (SPEC §8): never touches an
account. Heuristic: about 4 characters per token for text and JSON (tool schemas,
tool inputs), a few tokens of framing per message and per tool, and a flat cost for
each image or document (their base64 size says little about their token cost)."""

from __future__ import annotations

from typing import Any

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4  # role markers and turn separators
TOOL_OVERHEAD = 8  # the wrapper around each tool definition
IMAGE_TOKENS = 1_600  # roughly a 1092x1092 image, Anthropic's documented ceiling per image
DOCUMENT_TOKENS = 3_000


def estimate_tokens(system: Any, tools: Any, messages: Any) -> int:
    """Estimated input tokens of an Anthropic request; at least 1."""
    counter = _Counter()
    counter.walk(system)
    if isinstance(tools, list):
        counter.tokens += TOOL_OVERHEAD * len(tools)
        counter.walk(tools)
    if isinstance(messages, list):
        counter.tokens += MESSAGE_OVERHEAD * len(messages)
        counter.walk(messages)
    return max(1, counter.tokens + (counter.chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN)


class _Counter:
    def __init__(self) -> None:
        self.chars = 0
        self.tokens = 0

    def walk(self, node: Any) -> None:
        if isinstance(node, str):
            self.chars += len(node)
        elif isinstance(node, list):
            for item in node:
                self.walk(item)
        elif isinstance(node, dict):
            kind = node.get("type")
            if kind in ("image", "document") and isinstance(node.get("source"), dict):
                self.tokens += IMAGE_TOKENS if kind == "image" else DOCUMENT_TOKENS
                return
            for key, value in node.items():
                if key in ("cache_control", "type", "id", "tool_use_id", "signature"):
                    continue  # framing, not content the model reads as tokens
                self.chars += len(key) if key not in ("text", "content", "role") else 0
                self.walk(value)
        elif node is not None:
            self.chars += len(str(node))
