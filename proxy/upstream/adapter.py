"""The one interface every upstream kind offers the dispatcher (SPEC §6, §9):
generation calls and the account's live catalogue. Antigravity
(proxy/upstream/antigravity.py), Gemini API keys (gemini_api.py) and z.ai
(zai.py) each implement it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from proxy.accounts.catalogue import Catalogue
from proxy.accounts.model import Account, QuotaInfo
from proxy.upstream.response import ChunkStream


@dataclass
class CatalogueRead:
    """A catalogue as read just now, with the quota it carried (None: the kind reports none)."""

    catalogue: Catalogue
    quota: dict[str, QuotaInfo] | None = None


class UpstreamAdapter(Protocol):
    kind: str  # "antigravity" | "gemini_api" | "zai": the monitor's upstream_kind

    async def generate(self, account: Account, model: str, request: dict[str, Any]) -> dict[str, Any]: ...
    async def stream(self, account: Account, model: str, request: dict[str, Any]) -> ChunkStream: ...
    async def count_tokens(self, account: Account, model: str, request: dict[str, Any]) -> dict[str, Any]: ...
    async def read_catalogue(self, account: Account) -> CatalogueRead: ...
