"""Load captured client requests (tests/fixtures/clients/, see the README there)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CLIENTS = Path(__file__).resolve().parents[2] / "fixtures" / "clients"


def captures(prefixes: tuple[str, ...], path_has: str) -> list[tuple[str, dict[str, Any]]]:
    """(id, capture) for every POST whose folder starts with one of `prefixes` and whose
    path contains `path_has`."""
    out = []
    for file in sorted(CLIENTS.glob("*/*.json")):
        if not file.parent.name.startswith(prefixes):
            continue
        cap = json.loads(file.read_text())
        if cap.get("method") == "POST" and path_has in cap.get("path", ""):
            out.append((f"{file.parent.name}/{file.name}", cap))
    return out
