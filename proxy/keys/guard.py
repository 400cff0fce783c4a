"""The edge's checks of a client key (SPEC §19), in O(1): revoked or expired → 401, over
its requests per minute → 429 with Retry-After, over its daily token budget → 429 saying
when it resets, a model outside its globs → 403. Each is an ApiError, so the client gets
it in its own protocol. The 429s say they are this key's limit, not an upstream's."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from proxy.context import request_key
from proxy.errors import ApiError, ErrorKind
from proxy.keys.store import ClientKey, next_midnight

# request[CLIENT_KEY]: the ClientKey the request came with (absent for the owner's key).
CLIENT_KEY = request_key("agproxy.client_key", object)


def check_key(key: ClientKey, now: float) -> ApiError | None:
    """None when `key` may send a request now (and the request is counted), else why not."""
    if key.revoked:
        return ApiError(
            ErrorKind.AUTHENTICATION,
            f"client key '{key.name}' was revoked; ask the proxy's owner for a new one",
        )
    if key.expires and now >= key.expires:
        when = datetime.fromtimestamp(key.expires).strftime("%Y-%m-%d %H:%M")
        return ApiError(
            ErrorKind.AUTHENTICATION,
            f"client key '{key.name}' expired on {when}; ask the proxy's owner to renew it",
        )
    if key.tokens_per_day and key.used_today(now) >= key.tokens_per_day:
        reset = next_midnight(now)
        wait = reset - now
        return ApiError(
            ErrorKind.RATE_LIMIT,
            f"client key '{key.name}' used its daily budget of {key.tokens_per_day:,} tokens "
            f"(an agproxy client key limit, not the upstream's); it resets at "
            f"{datetime.fromtimestamp(reset):%Y-%m-%d %H:%M} (in {_hm(wait)})",
            retry_after=math.ceil(wait),
        )
    wait = key.take(now)
    if wait:
        return ApiError(
            ErrorKind.RATE_LIMIT,
            f"client key '{key.name}' is over its limit of {key.rpm} requests per minute "
            f"(an agproxy client key limit, not the upstream's); retry in {math.ceil(wait)} s",
            retry_after=math.ceil(wait),
        )
    return None


def check_model(request: Any, model: Any) -> None:
    """Raise the 403 when the request's client key may not use `model` (the client's name)."""
    key = request.get(CLIENT_KEY)
    if key is None or not key.models or not isinstance(model, str):
        return
    if not key.allows_model(model):
        raise ApiError(
            ErrorKind.PERMISSION,
            f"client key '{key.name}' may not use model {model!r} "
            f"(it may use: {', '.join(key.models)})",
            param="model",
        )


def _hm(seconds: float) -> str:
    minutes = max(1, int(seconds // 60))
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"
