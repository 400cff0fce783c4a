"""The head of a large request body stands in for all of it in the monitor's capture
(SPEC §11 truncation note, SPEC §16 memory): the capture is told the whole size."""

from __future__ import annotations

from proxy.monitor.capture import capture_body


def test_capture_of_a_head_names_the_whole_size() -> None:
    head = b'{"a":"' + b"x" * 2000
    text = capture_body(head, 1024, total=5_000_000)
    assert text.startswith('{"a":"') and text.endswith("[truncated: 5000000 bytes in all]")


def test_a_head_shorter_than_a_raised_limit_is_kept_whole_with_the_note() -> None:
    head = b"y" * 1025  # cut for max_body_kb = 1, captured after it became 4
    text = capture_body(head, 4096, total=9_000_000)
    assert text.startswith("y" * 1025) and text.endswith("[truncated: 9000000 bytes in all]")


def test_a_whole_body_needs_no_total() -> None:
    assert capture_body(b"small", 1024) == "small"
    assert capture_body(b"small", 1024, total=0) == "small"
