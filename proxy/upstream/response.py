"""Reading a Gemini-shaped upstream response: `ChunkStream` turns an SSE body into
(unwrapped) GenerateContentResponse chunks; `collect()` folds chunks into the one
response a non-stream client expects; `send()` does a POST and classifies failure."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import aiohttp.payload
import aiohttp_socks
from aiohttp.http_exceptions import HttpProcessingError
from yarl import URL

from proxy import jsoncodec
from proxy.errors import UpstreamError, UpstreamErrorKind
from proxy.upstream.hints import classify
from proxy.upstream.sse import SSEParser

# Failures before a byte of the request could have left: the connect (TCP, TLS, proxy
# handshake) failed or timed out. Anything else may have reached the upstream. A SOCKS
# proxy hanging up mid-handshake surfaces as python-socks' IncompleteReadError.
_PROXY_ERRORS = (aiohttp_socks.ProxyConnectionError, aiohttp_socks.ProxyTimeoutError, aiohttp_socks.ProxyError,
                 asyncio.IncompleteReadError)
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, *_PROXY_ERRORS)
# What reading an upstream answer can raise besides timeouts: aiohttp's client errors, socket
# errors, the parser's framing errors (HttpProcessingError, when not already wrapped by
# aiohttp) and decompression errors (a body sent with a Content-Encoding it does not match).
TRANSPORT_ERRORS = (TimeoutError, aiohttp.ClientError, OSError, HttpProcessingError, zlib.error, *_PROXY_ERRORS)


def transport_error(exc: BaseException, what: str = "upstream", *, sent: bool | None = None) -> UpstreamError:
    """The UpstreamError for a failed exchange. `may_have_run` says whether the request may
    have reached the upstream (`sent`; by default: unless the connect itself failed), so no
    one sends it again as if it never left (SPEC §6.4)."""
    may_have_run = not isinstance(exc, _NOT_SENT) if sent is None else sent
    if isinstance(exc, (asyncio.TimeoutError, aiohttp_socks.ProxyTimeoutError)):
        step = "connect" if isinstance(exc, (aiohttp.ConnectionTimeoutError, aiohttp_socks.ProxyTimeoutError)) else what
        return UpstreamError(UpstreamErrorKind.TIMEOUT, 0, f"{step} timed out", may_have_run=may_have_run)
    detail = type(exc).__name__
    if isinstance(exc, (HttpProcessingError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError, zlib.error)):
        # A framing / encoding fault: the upstream's answer is broken (its text is safe: no secrets).
        reason = getattr(exc, "message", "") or str(exc)
        detail = f"{detail}: {reason}"[:200] if reason else detail
    note = "; the request may have reached it, so it is not sent again" if may_have_run else ""
    return UpstreamError(UpstreamErrorKind.TRANSPORT, 0, f"{what} connection failed ({detail}){note}",
                         may_have_run=may_have_run)


# Bodies above this go out in slices of SEND_SLICE (SlicedPayload).
SLICED_BODY = 1024 * 1024
SEND_SLICE = 256 * 1024


class SlicedPayload(aiohttp.payload.BytesPayload):
    """A large request body written in memoryview slices, waiting for the socket between
    them. Written whole, aiohttp (Python < 3.12.9) joins the headers and the body into a
    second full copy, and a transport that cannot send it at once may buffer its tail:
    with slices both stay one slice big (SPEC §16: memory ≈ one copy of the body)."""

    def __init__(self, value: bytes) -> None:
        # Payload.__init__ directly: BytesPayload's warns about large bodies, which this solves.
        aiohttp.payload.Payload.__init__(self, value, content_type="application/json")
        self._size = len(value)
        self._length = len(value)

    async def write(self, writer: Any) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(self, writer: Any, content_length: int | None) -> None:
        end = self._length if content_length is None else min(content_length, self._length)
        view = memoryview(self._value)  # not released here: the transport may still hold slices
        for pos in range(0, end, SEND_SLICE):
            await writer.write(view[pos : min(pos + SEND_SLICE, end)])


Response = aiohttp.ClientResponse


async def send(session: aiohttp.ClientSession, url: str | URL, body: bytes, headers: Mapping[str, str],
               *, proxy: str | None, timeout: aiohttp.ClientTimeout) -> Response:
    """POST; returns the open 2xx response (caller releases it) or raises UpstreamError.
    `session` is `UpstreamSessions.get(kind)`; aiohttp never resends a POST on its own."""
    data: bytes | SlicedPayload = SlicedPayload(body) if len(body) > SLICED_BODY else body
    try:
        resp = await session.post(url, data=data, headers=headers, proxy=proxy, timeout=timeout)
    except TRANSPORT_ERRORS as exc:
        raise transport_error(exc) from None
    if resp.status >= 300:
        try:
            raw = await resp.read()
        except TRANSPORT_ERRORS:
            raw = b""
        finally:
            resp.release()
        raise classify(resp.status, raw, resp.headers)
    return resp


async def read_json(resp: Response, unwrap: bool) -> dict[str, Any]:
    try:
        raw = await resp.read()
    except TRANSPORT_ERRORS as exc:
        raise transport_error(exc, sent=True) from None
    finally:
        resp.release()
    try:
        data = jsoncodec.loads(raw)
    except ValueError:
        raise UpstreamError(UpstreamErrorKind.SERVER, resp.status, "upstream sent malformed JSON", body=raw[:2000]) from None
    if unwrap and isinstance(data, dict) and isinstance(data.get("response"), dict):
        return data["response"]
    if not isinstance(data, dict):
        raise UpstreamError(UpstreamErrorKind.SERVER, resp.status, "upstream sent unexpected JSON", body=raw[:2000])
    return data


# A burst read from upstream (a fast or buffered answer) is parsed this many bytes at a
# time, so the first chunk is relayed before the rest of the burst is parsed (TTFB).
FEED_SLICE = 1024


class ChunkStream:
    """Async iterator of chunk dicts over an open SSE response. Each `data:` line is
    parsed once. `aclose()` drops the connection (client gone or failover)."""

    def __init__(self, resp: Response, unwrap: bool) -> None:
        self._resp = resp
        self._unwrap = unwrap
        self._parser = SSEParser()
        self._pending: list[dict[str, Any]] = []
        self._raw = b""  # read but not yet parsed (a burst), from _raw_pos on
        self._raw_pos = 0
        self._done = False
        self.finished = False  # a finishReason was seen: the stream ended properly
        self.chunks = 0

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self

    async def __anext__(self) -> dict[str, Any]:
        while not self._pending:
            if self._done:
                raise StopAsyncIteration
            await self._fill()
        self.chunks += 1
        return self._pending.pop(0)

    async def read_all(self) -> list[dict[str, Any]]:
        """Every chunk, for a non-stream call: the body read in one go and parsed at once
        (nothing is relayed early, so the per-read, per-slice stream machinery is waste).
        Same outcome as iterating, errors included."""
        try:
            data = await self._resp.read()
        except TRANSPORT_ERRORS as exc:
            self.close()
            raise transport_error(exc, "upstream stream", sent=True) from None
        self._done = True
        self._resp.release()  # fully read: the connection goes back to the pool
        plain = _plain_events(data)
        if plain is not None:
            for payload in plain:
                self._event(payload)
            tail = len(self._pending)
        else:
            for ev in self._parser.feed(data):
                self._event(ev.data)
            tail = len(self._pending)
            for ev in self._parser.close():
                self._event(ev.data)
        chunks, self._pending = self._pending, []
        self.chunks += len(chunks)
        # As when iterating: an answer that never finished is an error, unless its last
        # event came only with the end of the body (then iteration ended quietly too).
        if not self.finished and len(chunks) == tail:
            raise UpstreamError(UpstreamErrorKind.TRANSPORT, 0, "upstream stream ended before the answer was complete")
        return chunks

    def buffered(self) -> bool:
        """Whether the next chunk can come without waiting for the network."""
        return bool(self._pending or self._raw)

    async def _fill(self) -> None:
        if self._raw:
            pos = self._raw_pos
            data = self._raw[pos : pos + FEED_SLICE]
            self._raw_pos = pos + FEED_SLICE
            if self._raw_pos >= len(self._raw):
                self._raw, self._raw_pos = b"", 0
        else:
            try:
                data = await self._resp.content.readany()
            except TRANSPORT_ERRORS as exc:
                self.close()
                raise transport_error(exc, "upstream stream", sent=True) from None
            if len(data) > FEED_SLICE:
                data, self._raw, self._raw_pos = data[:FEED_SLICE], data, FEED_SLICE
        if not data:
            self._done = True
            events = self._parser.close()
        else:
            events = self._parser.feed(data)
        for ev in events:
            self._event(ev.data)
        if self._done:
            self.close()
            if not self.finished and not self._pending:
                raise UpstreamError(UpstreamErrorKind.TRANSPORT, 0, "upstream stream ended before the answer was complete")

    def _event(self, data: str | bytes) -> None:
        if not data or data == "[DONE]" or data == b"[DONE]":
            return
        try:
            obj = jsoncodec.loads(data)
        except ValueError:
            self.close()
            raw = data if isinstance(data, bytes) else data.encode()
            raise UpstreamError(UpstreamErrorKind.SERVER, 200, "upstream sent a malformed stream event",
                                body=raw[:2000]) from None
        if not isinstance(obj, dict):
            return
        if self._unwrap and "response" in obj:
            obj = obj["response"]
            if not isinstance(obj, dict):
                return
        elif "error" in obj and "candidates" not in obj:
            err = obj["error"]
            code = err.get("code") if isinstance(err, dict) else None
            self.close()
            raise classify(code if isinstance(code, int) else 500, obj)
        for cand in obj.get("candidates") or ():
            if cand.get("finishReason"):
                self.finished = True
        self._pending.append(obj)

    def close(self) -> None:
        """Release the upstream connection (closing it if the body was not fully read)."""
        self._done = True
        if not self._resp.closed:
            self._resp.close()

    async def aclose(self) -> None:
        self.close()


def _plain_events(data: bytes) -> list[bytes] | None:
    """The payloads of a whole body in the plain form upstreams send (one-line `data:`
    events, each ended by a blank line, all LF or all CRLF as Google sends them), split
    without the general parser; None for anything else (BOM, comments, other fields,
    multi-line data, mixed line ends, an unterminated last event): the full SSE parser."""
    if data.endswith(b"\r\n\r\n"):
        sep = b"\r\n\r\n"
    elif data.endswith(b"\n\n") and b"\r" not in data:
        sep = b"\n\n"
    else:
        return None
    out: list[bytes] = []
    for block in data.split(sep):
        if not block:
            continue
        if not block.startswith(b"data:") or b"\n" in block or b"\r" in block:
            return None
        out.append(block[6:] if block[5:6] == b" " else block[5:])
    return out


_TEXT_KEYS = frozenset({"text", "thought", "thoughtSignature"})  # a plain text part (joinable)


def collect(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold streamed chunks into one GenerateContentResponse: adjacent text parts of the
    same kind (thought or not) are joined; signatures, calls and usage are kept."""
    if not chunks:
        return {"candidates": []}
    parts: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    cand_out: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    for chunk in chunks:
        for key in ("usageMetadata", "modelVersion", "responseId", "promptFeedback", "createTime"):
            if key in chunk:
                out[key] = chunk[key]
        for cand in chunk.get("candidates") or ():
            for key, value in cand.items():
                if key != "content":
                    cand_out[key] = value
            for part in (cand.get("content") or {}).get("parts") or ():
                prev = parts[-1] if parts else None
                if (prev is not None and "text" in part and "text" in prev and part.keys() <= _TEXT_KEYS
                        and prev.keys() <= _TEXT_KEYS
                        and bool(part.get("thought")) == bool(prev.get("thought")) and "thoughtSignature" not in prev):
                    prev["text"] += part["text"]
                    if "thoughtSignature" in part:
                        prev["thoughtSignature"] = part["thoughtSignature"]
                else:
                    parts.append(dict(part))
    return {"candidates": [cand_out], **out}
