"""BodyHead: the head of a large request body standing in for all of it in the monitor's
capture (SPEC §11 truncation note, SPEC §16 memory)."""

from __future__ import annotations

from types import SimpleNamespace

from proxy.monitor.capture import capture_body
from proxy.monitor.middleware import _usable
from proxy.server.exchange import BodyHead


def test_capture_of_a_head_names_the_whole_size() -> None:
    head = BodyHead(b'{"a":"' + b"x" * 2000, 5_000_000)
    assert len(head) == 5_000_000 and memoryview(head).nbytes == 2006
    assert type(head[:10]) is bytes  # slices are plain bytes: the capture decodes those
    text = capture_body(head, 1024)
    assert text.startswith('{"a":"') and text.endswith("[truncated: 5000000 bytes in all]")


def test_a_head_cut_for_a_smaller_limit_becomes_plain_bytes() -> None:
    head = BodyHead(b"y" * 1025, 9_000_000)  # cut for max_body_kb = 1
    bigger = SimpleNamespace(settings=SimpleNamespace(max_body_kb=4))
    same = SimpleNamespace(settings=SimpleNamespace(max_body_kb=1))
    assert _usable(head, same) is head
    plain = _usable(head, bigger)
    assert type(plain) is bytes and plain == b"y" * 1025
    assert capture_body(plain, 4096) == "y" * 1025  # no IndexError, no false total
