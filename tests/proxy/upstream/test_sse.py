"""The SSE parser: framing rules and robustness to any chunk boundary."""

from __future__ import annotations

import random

from proxy.upstream.sse import SSEEvent, SSEParser


def parse_all(chunks: list[bytes]) -> list[SSEEvent]:
    p = SSEParser()
    out: list[SSEEvent] = []
    for c in chunks:
        out.extend(p.feed(c))
    out.extend(p.close())
    return out


STREAM = (
    b"\xef\xbb\xbf: keep-alive comment\r\n"
    b"event: message_start\r\ndata: {\"a\": \"h\xc3\xa9llo \xf0\x9f\x98\x80\"}\r\n\r\n"
    b"data:no-space\n\n"
    b"data: line1\rdata: line2\r\r"
    b"id: 7\nevent: ping\ndata\n\n"
    b"retry: 100\nunknown: x\ndata: last"
)
EXPECTED = [
    SSEEvent("message_start", '{"a": "héllo 😀"}', None),
    SSEEvent("", "no-space", None),
    SSEEvent("", "line1\nline2", None),
    SSEEvent("ping", "", "7"),
    SSEEvent("", "last", "7"),
]


def test_parses_every_framing_form_in_one_piece():
    assert parse_all([STREAM]) == EXPECTED


def test_empty_data_field_still_dispatches_an_event():
    # "data" with no colon is a data line with an empty value
    assert parse_all([b"data\ndata\n\n"]) == [SSEEvent("", "\n", None)]


def test_event_without_data_is_not_dispatched():
    assert parse_all([b"event: x\n\ndata: y\n\n"]) == [SSEEvent("", "y", None)]


def test_final_event_without_trailing_newline_is_flushed_on_close():
    p = SSEParser()
    assert p.feed(b"data: {\"x\":1}") == []
    assert p.close() == [SSEEvent("", '{"x":1}', None)]


def test_crlf_split_across_chunks_is_one_line_end():
    assert parse_all([b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"]) == [SSEEvent("", "a"), SSEEvent("", "b")]


def test_event_is_emitted_as_soon_as_its_blank_line_arrives():
    p = SSEParser()
    assert p.feed(b"data: a\r\n\r") == [SSEEvent("", "a")]  # CR alone already ends the line


def test_fuzz_random_chunk_splits_give_the_same_events():
    rng = random.Random(1234)
    for _ in range(500):
        cuts = sorted(rng.sample(range(1, len(STREAM)), rng.randint(1, 25)))
        pieces = [STREAM[i:j] for i, j in zip([0, *cuts], [*cuts, len(STREAM)])]
        assert parse_all(pieces) == EXPECTED, pieces


def test_byte_at_a_time_split_inside_utf8_and_crlf():
    assert parse_all([STREAM[i:i + 1] for i in range(len(STREAM))]) == EXPECTED
