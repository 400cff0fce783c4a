"""Honest failures (SPEC §7) through the three faces with the official SDKs: a model
nobody serves is a 404 naming it and what is offered — every time, never a 429; an
unreachable upstream is a 502 "upstream unreachable" and the proxy is back as soon
as the upstream is; a rejected client version is a 502 naming the version sent and
`upstream.user_agent`, burns no account, and its 200 form is never relayed as a
completion."""

from __future__ import annotations

import asyncio
import re
import time

import anthropic
import pytest

from tests.e2e.catalogue_clients import FACES, ask, fail
from tests.e2e.conftest import E2E
from tests.fakes.catalogue import VERSION_GATE_MESSAGE, today

pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
SHARED = pytest.mark.asyncio(loop_scope="module")  # on the module's one proxy (moved_shared): it only asks

OFFERED = set(today().offered)
UNKNOWN = "mistral-large-2411"  # no account offers it, no family rule covers it


def names_an_offered_id(message: str) -> bool:
    return any(re.search(rf"(?<![\w.-]){re.escape(m)}(?![\w.-])", message) for m in OFFERED)


def account_is_untouched(env: E2E, *models: str) -> None:
    now = time.time()
    for acc in env.service.accounts.list():
        assert acc.effective_state(now).value == "active", (acc.label, acc.state, acc.state_reason)
        for model in models:
            assert acc.is_selectable(model, now), (acc.label, model)


# -- a model nobody serves --------------------------------------------------------------


@SHARED
async def test_an_unknown_model_is_a_404_every_time_and_never_a_429(moved_shared: E2E) -> None:
    client = moved_shared.openai()
    import openai

    for i in range(25):
        with pytest.raises(openai.NotFoundError) as info:  # the last five as streams
            reply = await client.chat.completions.create(model=UNKNOWN, stream=i >= 20,
                                                         messages=[{"role": "user", "content": f"try {i}"}])
            if i >= 20:
                _ = [chunk async for chunk in reply]  # type: ignore[union-attr]
        assert info.value.status_code == 404
    text, _ = await ask(moved_shared, "openai_chat", "gemini-3.5-flash", "others unaffected")
    assert text == "echo: others unaffected"
    text, _ = await ask(moved_shared, "anthropic", "claude-sonnet-4-7", "still fine")
    assert text == "echo: still fine"
    account_is_untouched(moved_shared, "gemini-3.5-flash", "claude-sonnet-4-7")


@SHARED
@pytest.mark.parametrize("face", FACES)
async def test_the_404_names_the_model_and_offered_alternatives(moved_shared: E2E, face: str) -> None:
    status, message = await fail(moved_shared, face, UNKNOWN)
    assert status == 404, message
    assert UNKNOWN in message and names_an_offered_id(message), message


async def test_a_listed_model_the_upstream_refuses_is_a_404_not_an_outage(moved: E2E) -> None:
    """Listed, but 404 on generation (rolled out to newer clients only, no family to
    fall back on): the account is re-read, still cannot serve it, and the client hears
    404 naming it — every time, never a 429."""
    moved.fake.add_model(None, "gemini-diffusion-2", display_name="Gemini Diffusion 2", min_version="99.0.0")
    await moved.service.refresh_quotas()
    for _ in range(5):
        status, message = await fail(moved, "genai", "gemini-diffusion-2")
        assert status == 404, message
        assert "gemini-diffusion-2" in message and names_an_offered_id(message), message
    assert {c.model for c in moved.fake.calls("generate")} == {"gemini-diffusion-2"}  # nothing else was sent
    text, _ = await ask(moved, "genai", "gemini-3.5-flash", "unaffected")
    assert text == "echo: unaffected"
    account_is_untouched(moved, "gemini-3.5-flash", "claude-sonnet-4-7")


# -- the upstream is down ---------------------------------------------------------------


async def test_an_unreachable_upstream_is_a_502_and_the_proxy_is_back_when_it_is(moved: E2E) -> None:
    await moved.fake.stop()
    for face in (*FACES, "openai_chat", "openai_chat", "anthropic"):
        status, message = await fail(moved, face, "gemini-3.5-flash")
        assert status == 502 and "upstream unreachable" in message, (face, status, message)
    await moved.fake.start()
    answers: list[int] = []
    deadline = time.monotonic() + 10  # a bound, not a measurement
    while time.monotonic() < deadline:
        try:
            text, _ = await ask(moved, "openai_chat", "gemini-3.5-flash", "back")
        except Exception as err:  # noqa: BLE001 - every failure on the way is looked at below
            answers.append(getattr(err, "status_code", 0))
            await asyncio.sleep(0.1)
            continue
        assert text == "echo: back"
        break
    else:
        raise AssertionError(f"not back after the upstream returned: {answers}")
    assert 429 not in answers, answers
    for face in FACES:
        text, _ = await ask(moved, face, "claude-sonnet-4-7", f"back on {face}")
        assert text == f"echo: back on {face}"


# -- the upstream rejects the client version --------------------------------------------


def sent_version(env: E2E) -> str:
    ua = env.fake.calls("generate")[-1].headers["User-Agent"]
    match = re.search(r"antigravity/(\S+)", ua)
    assert match, ua
    return match.group(1)


@pytest.mark.parametrize("form", ["error", "text"])
async def test_a_rejected_client_version_is_a_502_with_the_fix_and_burns_no_account(moved: E2E, form: str) -> None:
    moved.fake.gate_versions_below("99.0.0", form=form)
    for face in (*FACES, "openai_chat", "anthropic"):
        status, message = await fail(moved, face, "gemini-3.5-flash", "gated")
        assert status == 502, (face, status, message)
        assert sent_version(moved) in message and "upstream.user_agent" in message, message
        assert "echo" not in message
    account_is_untouched(moved, "gemini-3.5-flash", "claude-sonnet-4-7")
    moved.set("upstream.user_agent", "antigravity/99.1.0 linux/amd64")
    text, _ = await ask(moved, "openai_chat", "gemini-3.5-flash", "updated")
    assert text == "echo: updated"
    assert sent_version(moved) == "99.1.0"


async def test_a_200_whose_text_is_the_version_refusal_is_not_streamed_as_a_reply(moved: E2E) -> None:
    moved.fake.gate_versions_below("99.0.0", form="text")
    client = moved.anthropic()
    with pytest.raises(anthropic.APIStatusError) as info:
        async with client.messages.stream(model="claude-sonnet-4-7", max_tokens=64,
                                          messages=[{"role": "user", "content": "stream gated"}]) as stream:
            async for event in stream:
                assert VERSION_GATE_MESSAGE not in str(event)
    assert info.value.status_code == 502 and "upstream.user_agent" in info.value.message
    import openai

    oa = moved.openai()
    with pytest.raises(openai.APIStatusError) as oinfo:
        chunks = await oa.chat.completions.create(model="gemini-3.5-flash", stream=True,
                                                  messages=[{"role": "user", "content": "stream gated"}])
        async for chunk in chunks:
            assert VERSION_GATE_MESSAGE not in (chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert oinfo.value.status_code == 502
    account_is_untouched(moved, "gemini-3.5-flash", "claude-sonnet-4-7")
