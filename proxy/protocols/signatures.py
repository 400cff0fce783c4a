"""Thought signatures (SPEC §8): remember what the upstream signed, restore it into
replayed history, and know which models insist on one. The store is an object the
server owns and passes in; nothing here is global."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

SENTINEL = "skip_thought_signature_validator"
"""Accepted by Gemini 3 in place of a lost signature *(ref)*; never sent to Claude models."""


def needs_signature(model: str) -> bool:
    """Gemini 3 models reject a replayed functionCall that lacks its thoughtSignature."""
    m = model.lower().removeprefix("models/")
    return m.startswith("gemini-3")


def model_family(model: str) -> str:
    """Signatures are only valid within the family that produced them."""
    return "claude" if "claude" in model.lower() else "gemini"


class SignatureStore:
    """Bounded LRU of signatures: per (session, tool call id) for replay into
    functionCall parts, and a set of thinking signatures the upstream really emitted
    (hashed: they can be kilobytes) so replayed thinking can be trusted."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max(1, max_entries)
        self._calls: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._known: OrderedDict[bytes, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._calls) + len(self._known)

    def remember(self, session_key: str | None, tool_call_id: str, signature: str) -> None:
        if not signature or not tool_call_id:
            return
        key = (session_key or "", tool_call_id)
        self._calls[key] = signature
        self._calls.move_to_end(key)
        while len(self._calls) > self.max_entries:
            self._calls.popitem(last=False)

    def lookup(self, session_key: str | None, tool_call_id: str) -> str | None:
        key = (session_key or "", tool_call_id)
        sig = self._calls.get(key)
        if sig is not None:
            self._calls.move_to_end(key)
        return sig

    def remember_thought(self, signature: str, model: str) -> None:
        """Note that the upstream, serving `model`, produced this signature."""
        if not signature:
            return
        digest = hashlib.blake2b(signature.encode(), digest_size=16).digest()
        self._known[digest] = model_family(model)
        self._known.move_to_end(digest)
        while len(self._known) > self.max_entries:
            self._known.popitem(last=False)

    def is_known(self, signature: str, model: str) -> bool:
        """True when this signature came from the upstream for `model`'s family."""
        if not signature:
            return False
        digest = hashlib.blake2b(signature.encode(), digest_size=16).digest()
        return self._known.get(digest) == model_family(model)
