"""The bounded in-memory store behind the Responses API's `previous_response_id`:
response id -> the turn's full input items and its output items (LRU). No I/O."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StoredResponse:
    input_items: list[dict[str, Any]]  # everything the model saw, history included
    output_items: list[dict[str, Any]]  # what it answered (Responses output items)

    def history(self) -> list[dict[str, Any]]:
        """The conversation so far, as input items for the next turn."""
        return self.input_items + self.output_items


class ResponseStore:
    """LRU keyed by response id. Items are kept by reference, never copied: the
    request body they came from is done with once the turn is saved."""

    def __init__(self, max_entries: int = 1000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, StoredResponse] = OrderedDict()

    def save(
        self,
        response_id: str,
        input_items: list[dict[str, Any]],
        output_items: list[dict[str, Any]],
    ) -> None:
        self._entries[response_id] = StoredResponse(input_items, output_items)
        self._entries.move_to_end(response_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def get(self, response_id: str) -> StoredResponse | None:
        entry = self._entries.get(response_id)
        if entry is not None:
            self._entries.move_to_end(response_id)  # a continued thread stays warm
        return entry

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, response_id: object) -> bool:
        return response_id in self._entries
