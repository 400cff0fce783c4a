"""The local count_tokens estimate (SPEC §8): ~4 chars/token plus small overheads."""

from __future__ import annotations

from client_fixtures import captures

from proxy.protocols.tokens import CHARS_PER_TOKEN, IMAGE_TOKENS, estimate_tokens


def test_short_prompt_is_a_handful_of_tokens():
    assert 2 <= estimate_tokens(None, None, [{"role": "user", "content": "say hi"}]) <= 10


def test_estimate_grows_with_text_at_about_four_chars_per_token():
    small = estimate_tokens("", None, [{"role": "user", "content": "a"}])
    big = estimate_tokens("", None, [{"role": "user", "content": "a" * 4001}])
    assert big - small == 4000 // CHARS_PER_TOKEN


def test_system_and_tools_count():
    msgs = [{"role": "user", "content": "hi"}]
    base = estimate_tokens(None, None, msgs)
    assert estimate_tokens("x" * 400, None, msgs) >= base + 100
    tool = {"name": "get_weather", "description": "d" * 400, "input_schema": {"type": "object"}}
    assert estimate_tokens(None, [tool], msgs) >= base + 100


def test_images_cost_a_flat_amount_not_their_base64_size():
    img = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "A" * 400_000},
    }
    n = estimate_tokens(None, None, [{"role": "user", "content": [img]}])
    assert IMAGE_TOKENS <= n < IMAGE_TOKENS + 20


def test_captured_count_tokens_requests_estimate_plausibly():
    caps = captures(("py-anthropic-count", "node-anthropic-count"), "count_tokens")
    assert caps
    for _, cap in caps:
        b = cap["body"]
        n = estimate_tokens(b.get("system"), b.get("tools"), b["messages"])
        assert 3 <= n <= 300


def test_a_claude_code_sized_request_is_in_the_right_range():
    (_, cap), *_ = captures(("claude-apikey",), "/messages")
    b = cap["body"]
    n = estimate_tokens(b.get("system"), b.get("tools"), b["messages"])
    size = len(str(b))
    assert size / 8 < n < size / 2
