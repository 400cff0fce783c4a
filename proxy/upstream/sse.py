"""The one incremental Server-Sent Events parser, shared by every upstream client.

Bytes go in as they arrive (any chunk boundary: inside a CRLF, inside a UTF-8
character); complete events come out. Lines are split with a compiled regex so
the per-chunk work happens in C, not in a per-byte Python loop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class SSEEvent:
    event: str  # "" when the stream gave no `event:` field (SSE's default "message")
    data: str  # data lines joined with "\n"
    id: str | None = None


class SSEParser:
    """Feed bytes, get `SSEEvent`s (WHATWG event-stream rules)."""

    __slots__ = ("_buf", "_data", "_event", "_id", "_skip_lf", "_started")

    def __init__(self) -> None:
        self._buf = b""  # an incomplete trailing line
        self._skip_lf = False  # the last chunk ended in "\r": a leading "\n" belongs to it
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._started = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        buf = self._buf + chunk if self._buf else chunk
        if not self._started:
            if len(buf) < 3 and _BOM.startswith(buf):
                self._buf = buf
                return []
            self._started = True
            if buf.startswith(_BOM):
                buf = buf[3:]
        lines = _LINE_END.split(buf)
        # The last piece has no terminator yet (b"" when the chunk ended on one).
        self._buf = lines.pop()
        if buf.endswith(b"\r"):
            self._skip_lf = True
        events: list[SSEEvent] = []
        for line in lines:
            self._line(line, events)
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: the last line and event count even without a trailing newline."""
        events: list[SSEEvent] = []
        if self._buf:
            buf, self._buf = self._buf, b""
            if not self._started and buf.startswith(_BOM):
                buf = buf[3:]
            self._line(buf, events)
        self._line(b"", events)
        return events

    def _line(self, line: bytes, out: list[SSEEvent]) -> None:
        if not line:
            if self._data:
                out.append(SSEEvent(self._event, "\n".join(self._data), self._id))
                self._data = []
            self._event = ""
            return
        if line[0] == 0x3A:  # ":" starts a comment (keep-alives)
            return
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        text = value.decode("utf-8", "replace")
        if name == b"data":
            self._data.append(text)
        elif name == b"event":
            self._event = text
        elif name == b"id" and "\0" not in text:
            self._id = text
        # `retry` and unknown fields are ignored: we never reconnect upstream streams.
