"""A fast fake Google upstream for benchmarks: raw asyncio HTTP/1.1 with keep-alive,
canned but wire-exact answers (the `{"response": ...}` envelope of v1internal, SSE
framing, the Gemini API's bare JSON), so the proxy, not the fake, is what is measured.

Run as `python -m tests.bench.fastfake PORT [LONG_CHUNKS] [LIFETIME_S]` (it prints READY
when listening, and exits after LIFETIME_S, default 600)."""

from __future__ import annotations

import asyncio
import json
import sys

CHUNK_TEXT = "lorem ipsum "


def _gemini_chunk(text: str, last: bool) -> dict:
    cand: dict = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    chunk: dict = {"candidates": [cand], "modelVersion": "bench-model", "responseId": "bench"}
    if last:
        cand["finishReason"] = "STOP"
        chunk["usageMetadata"] = {
            "promptTokenCount": 12,
            "candidatesTokenCount": 34,
            "totalTokenCount": 46,
        }
    return chunk


def _sse(chunks: list[dict], wrap: bool) -> bytes:
    out = []
    for c in chunks:
        body = {"response": c} if wrap else c
        out.append(b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\r\n\r\n")
    return b"".join(out)


def _response(status: int, body: bytes, content_type: bytes) -> bytes:
    return (
        b"HTTP/1.1 %d OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
        % (status, content_type, len(body))
        + body
    )


def build_answers(stream_chunks: int = 3) -> dict[tuple[bool, bool], bytes]:
    """(envelope, stream) -> the full HTTP response bytes."""
    chunks = [_gemini_chunk(CHUNK_TEXT, i == stream_chunks - 1) for i in range(stream_chunks)]
    merged = _gemini_chunk(CHUNK_TEXT * stream_chunks, True)
    return {
        (True, True): _response(200, _sse(chunks, True), b"text/event-stream"),
        (False, True): _response(200, _sse(chunks, False), b"text/event-stream"),
        (True, False): _response(
            200, json.dumps({"response": merged}).encode(), b"application/json"
        ),
        (False, False): _response(200, json.dumps(merged).encode(), b"application/json"),
    }


# What `fetchAvailableModels` lists (SPEC §9): the proxy only sends an account a model
# its catalogue offers, so every model the workload names (or resolves to) is here.
CATALOGUE_MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "claude-sonnet-4-5", "claude-sonnet-4-5-thinking")


def _catalogue() -> bytes:
    models = {
        m: {"displayName": m, "maxTokens": 1_048_576, "maxOutputTokens": 65_536,
            "quotaInfo": {"remainingFraction": 1.0}}
        for m in CATALOGUE_MODELS
    }
    return _response(200, json.dumps({"models": models}).encode(), b"application/json")


CATALOGUE_ANSWER = _catalogue()
PROJECT_ANSWER = _response(200, b'{"cloudaicompanionProject": "p"}', b"application/json")

MAX_LIFETIME_S = 600.0  # the fake exits by itself after this
LONG_MARKER = b"BENCH_LONG_STREAM"  # a prompt containing this gets the long stream
_MARKER_SCAN_MAX = 65536  # only small bodies are scanned (big ones never ask for it)


class FastUpstream(asyncio.Protocol):
    """Parses just enough HTTP/1.1: request line, Content-Length, body; answers by path.
    The head is searched only in new bytes and the body is never copied, so a 20 MiB
    request costs the fake one buffer append per read. A request whose target has
    `long=1`, or whose (small) body contains LONG_MARKER, gets the long stream."""

    answers: dict[tuple[bool, bool], bytes] = build_answers()
    long_stream: bytes = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buf = bytearray()
        self.scan_from = 0
        self.body_start = -1  # -1: still reading the head
        self.need = 0
        self.target = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.body_start < 0:
                end = self.buf.find(b"\r\n\r\n", self.scan_from)
                if end < 0:
                    self.scan_from = max(0, len(self.buf) - 3)
                    return
                head = bytes(self.buf[:end])
                self.need = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        self.need = int(line[15:])
                self.target = head.split(b" ", 2)[1]
                self.body_start = end + 4
            stop = self.body_start + self.need
            if len(self.buf) < stop:
                return
            long = (
                self.need <= _MARKER_SCAN_MAX
                and self.buf.find(LONG_MARKER, self.body_start, stop) >= 0
            )
            del self.buf[:stop]
            self.body_start, self.scan_from = -1, 0
            self.answer(self.target, long)

    def answer(self, target: bytes, long: bool = False) -> None:
        if b":fetchAvailableModels" in target or b":loadCodeAssist" in target:  # catalogue reads
            answer = CATALOGUE_ANSWER if b"fetchAvailable" in target else PROJECT_ANSWER
            self.transport.write(answer)  # type: ignore[attr-defined]
            return
        envelope = b"/v1internal" in target
        stream = b"streamGenerateContent" in target
        if self.long_stream and (long or b"long=1" in target or (stream and b"/long" in target)):
            self.transport.write(self.long_stream)  # type: ignore[attr-defined]
            return
        self.transport.write(self.answers[(envelope, stream)])  # type: ignore[attr-defined]


def long_stream_response(chunks: int, wrap: bool = True) -> bytes:
    """A chunked-encoding SSE answer of `chunks` events (the per-chunk relay cost)."""
    parts = [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    ]
    for i in range(chunks):
        event = _sse([_gemini_chunk("tok ", i == chunks - 1)], wrap)
        parts.append(b"%x\r\n%s\r\n" % (len(event), event))
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


async def serve(port: int, long_chunks: int, lifetime: float = MAX_LIFETIME_S) -> None:
    FastUpstream.long_stream = long_stream_response(long_chunks)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FastUpstream, "127.0.0.1", port, backlog=1024)
    print("READY", flush=True)
    async with server:
        # Bounded: a benchmark that died without stopping us does not leave us running.
        await asyncio.sleep(lifetime)


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(serve(int(args[0]), int(args[1]) if len(args) > 1 else 500,
                      float(args[2]) if len(args) > 2 else MAX_LIFETIME_S))
