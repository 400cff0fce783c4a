"""The one JSON library of agproxy (orjson), behind three small functions."""

from __future__ import annotations

from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON; raises JSONDecodeError (a ValueError) on bad input or bad UTF-8."""
    return orjson.loads(data)


def dumps(obj: Any) -> bytes:
    """Serialise compactly to UTF-8 bytes (non-str dict keys allowed)."""
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)


def dumps_pretty(obj: Any) -> str:
    """Indented text for people (monitor detail view, exports)."""
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
