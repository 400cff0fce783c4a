""" "Copy as curl" for a recorded request: a command that replays it against the
proxy. The key is never pasted in: auth headers read `$AGPROXY_API_KEY`."""

from __future__ import annotations

import shlex
from typing import Any

# Headers curl sets itself, or that would break a replay.
_SKIP = frozenset({"host", "content-length", "connection", "accept-encoding", "transfer-encoding"})
_AUTH = {
    "authorization": "Bearer $AGPROXY_API_KEY",
    "x-api-key": "$AGPROXY_API_KEY",
    "x-goog-api-key": "$AGPROXY_API_KEY",
}


def curl_command(rec: Any, base_url: str) -> str:
    url = base_url.rstrip("/") + rec.path
    # -N: a streamed answer is shown as it arrives, not after curl's buffer fills
    flags = "-sSN" if rec.stream else "-sS"
    lines = [f"curl {flags} -X {rec.method or 'GET'} {shlex.quote(url)}"]
    for name, value in (rec.request_headers or {}).items():
        low = name.lower()
        if low in _SKIP:
            continue
        if low in _AUTH:
            # double quotes so the shell expands the variable
            lines.append(f'-H "{name}: {_AUTH[low]}"')
        else:
            lines.append(f"-H {shlex.quote(f'{name}: {value}')}")
    body = rec.request_body or ""
    if body:
        lines.append("--data-binary @- <<'AGPROXY_BODY'")
        return " \\\n  ".join(lines) + "\n" + body + "\nAGPROXY_BODY"
    return " \\\n  ".join(lines)


def missing_body_note(rec: Any) -> str:
    """What the command lacks, said aloud (the monitor keeps bodies per its policy)."""
    if rec.request_body or (rec.method or "GET") in ("GET", "HEAD", "DELETE"):
        return ""
    return (
        "The request body was not captured (monitor.capture_bodies keeps only errors "
        "by default): the command has no body; set capture_bodies = \"all\" to keep them."
    )
