"""The one redactor: every kind of secret is masked, ordinary prose is not."""

from __future__ import annotations

import pytest

from proxy.redact import mask_secret, redact_headers, redact_text

SECRETS = [
    ("key sk-0123456789abcdef0123456789abcdef here", "sk-0123456789abcdef0123456789abcdef", "sk-…"),
    ("Authorization: Bearer ya29.a0AfH6SMBx-token", "a0AfH6SMBx-token", "Bearer …"),
    ("token ya29.a0AfH6SMBxyz_123 end", "a0AfH6SMBxyz_123", "ya29.…"),
    ("refresh 1//0gLx-abcdefgh_ijk end", "0gLx-abcdefgh_ijk", "1//…"),
    ("AIzaSyA1234567890123456789012345 key", "SyA1234567890123456789012345", "AIza…"),
    ("GOCSPX-abcdefghijklmnop", "abcdefghijklmnop", "GOCSPX-…"),
    ("GET /v1beta/models?alt=sse&key=AIzaTOPSECRET123", "TOPSECRET123", "&key=…"),
    ("/x?api_key=hunter2hunter2&y=1", "hunter2hunter2", "?api_key=…"),
    ('{"x-api-key": "rawsecretvalue"}', "rawsecretvalue", "…"),
    ("x-goog-api-key: plainvalue123", "plainvalue123", "x-goog-api-key: …"),
]


@pytest.mark.parametrize(("text", "secret", "kept"), SECRETS)
def test_each_kind_of_secret_is_masked(text: str, secret: str, kept: str) -> None:
    out = redact_text(text)
    assert secret not in out
    assert kept in out


@pytest.mark.parametrize(
    "prose", ["task-abcdefgh is done", "Task-ABCDEFGH", "risk-assessment-plan", "disk-usage-report", "a bearer of news"]
)
def test_ordinary_words_are_left_alone(prose: str) -> None:
    assert redact_text(prose) == prose


def test_several_secrets_in_one_long_body_are_all_masked() -> None:
    filler = "lorem ipsum task-list " * 5000
    text = f"{filler} sk-aaaaaaaaaaaaaaaa {filler} ya29.bbbbbbbbbbbb {filler} 1//cccccccccccc"
    out = redact_text(text)
    assert "aaaaaaaaaaaaaaaa" not in out and "bbbbbbbbbbbb" not in out and "cccccccccccc" not in out
    assert out.count("task-list") == text.count("task-list")


def test_credential_headers_are_masked_whole_keeping_the_scheme() -> None:
    out = redact_headers({"Authorization": "Bearer sk-secret-123456", "X-Api-Key": "abc123456", "Accept": "*/*"})
    assert out == {"Authorization": "Bearer …", "X-Api-Key": "…", "Accept": "*/*"}


def test_mask_secret_shows_prefix_and_last_four() -> None:
    assert mask_secret("sk-0123456789abcdef") == "sk-…cdef"
    assert mask_secret("short") == "…"
    assert mask_secret("") == ""


def test_a_gemini_key_accounts_label_comes_from_the_one_masker() -> None:
    from proxy.accounts.model import key_label

    assert mask_secret("AIzaSyD-abcdefghijklmnop9f2c", prefix=False) == "…9f2c"
    assert key_label("AIzaSyD-abcdefghijklmnop9f2c") == "key …9f2c"
    # a short value shows none of itself (the label's own copy showed half of an 8-char key)
    assert key_label("abcd1234") == "key …" and key_label("") == "key …"
