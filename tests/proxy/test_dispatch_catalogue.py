"""The dispatcher over live catalogues (SPEC §7, §9): model 404s, the version gate,
unreachable upstreams, and the failover budget (issue 11)."""

from __future__ import annotations

import time

import pytest

from proxy.dispatch import UpstreamCall
from proxy.errors import ApiError
from proxy.monitor.record import RequestRecord
from tests.fakes import replies
from tests.fakes.catalogue import last_month, today
from tests.fakes.harness import Harness

REQ = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def call(model: str, harness: Harness | None = None) -> UpstreamCall:
    resolution = harness.dispatcher.resolve(model) if harness is not None else None
    return UpstreamCall(resolution.model if resolution else model, REQ, resolution=resolution)


async def read_all(harness: Harness) -> None:
    assert await harness.dispatcher.catalogues.read_stale(max_age=0) == len(harness.store.list())


async def test_account_is_only_sent_models_its_catalogue_lists(harness: Harness):
    a, b = harness.add_antigravity("a"), harness.add_antigravity("b")
    harness.fake.set_catalogue("proj-a", last_month())
    harness.fake.set_catalogue("proj-b", today())
    await read_all(harness)
    assert a.serves("gemini-2.5-pro") and not b.serves("gemini-2.5-pro")
    for _ in range(4):
        await harness.dispatcher.generate(call("gemini-2.5-pro"))
    assert {c.token for c in harness.fake.calls("generate")} == {"tok-a"}


async def test_deprecated_id_is_answered_by_its_replacement(harness: Harness):
    harness.add_antigravity("a")
    harness.fake.use_catalogues(today())
    await read_all(harness)
    c = call("claude-sonnet-4-5", harness)
    assert c.model == "claude-sonnet-4-7" and "deprecated" in c.resolution.rule
    await harness.dispatcher.generate(c)
    assert harness.fake.calls("generate")[0].model == "claude-sonnet-4-7"


async def test_model_404_marks_the_pair_rereads_and_moves_to_an_account_that_lists_it(harness: Harness):
    a, b = harness.add_antigravity("a"), harness.add_antigravity("b")
    harness.fake.use_catalogues(today())
    await read_all(harness)
    harness.pool.settings.preferred_account = a.id
    harness.fake.catalogue("proj-a").retire("gemini-2.5-flash")  # gone on a, catalogue not re-read yet
    reads_before = len(harness.fake.calls("models"))
    rec = RequestRecord(id=1, started=time.time())
    await harness.dispatcher.generate(call("gemini-2.5-flash"), rec)
    assert [x.status for x in rec.attempts] == [404, 200] and rec.account == b.label
    assert len(harness.fake.calls("models")) == reads_before + 1  # that account re-read once
    assert not a.serves("gemini-2.5-flash") and a.serves("gemini-3.5-flash")  # other models unaffected
    assert not a.cooldowns and not a.fault_cooldowns


async def test_model_nobody_serves_is_a_404_naming_offered_ids_every_time(harness: Harness):
    harness.add_antigravity("a")
    harness.fake.use_catalogues(today())
    await read_all(harness)
    for _ in range(25):
        with pytest.raises(ApiError) as exc:
            await harness.dispatcher.generate(UpstreamCall("gemini-9-ultra", REQ))
        assert exc.value.status == 404
    assert "'gemini-9-ultra' is not served by any account" in exc.value.message
    assert "offered ids like it:" in exc.value.message
    assert (await harness.dispatcher.generate(call("gemini-2.5-flash")))["candidates"]


async def test_version_gate_is_a_502_with_the_fix_and_burns_no_account(harness: Harness):
    a = harness.add_antigravity("a")
    harness.fake.gate_versions_below("99.0.0", form="error")
    with pytest.raises(ApiError) as exc:
        await harness.dispatcher.generate(call("gemini-2.5-pro"))
    assert exc.value.status == 502
    assert "upstream.user_agent" in exc.value.message and "antigravity/" in exc.value.message
    assert a.state.value == "active" and not a.cooldowns and not a.fault_cooldowns
    assert harness.dispatcher.version_gate is not None


async def test_version_gate_as_the_whole_text_of_a_200_is_not_relayed(harness: Harness):
    harness.add_antigravity("a")
    harness.fake.gate_versions_below("99.0.0", form="text")
    with pytest.raises(ApiError) as exc:
        await harness.dispatcher.generate(call("gemini-2.5-pro"))
    assert exc.value.status == 502 and "no longer supported" in exc.value.message
    harness.fake.ungate()
    await harness.dispatcher.generate(call("gemini-2.5-pro"))
    assert harness.dispatcher.version_gate is None  # a request went through: banner gone


async def test_unreachable_upstream_is_a_502_never_a_429(harness: Harness):
    harness.add_antigravity("a"), harness.add_antigravity("b")
    async with harness.fake.down():
        for _ in range(3):
            with pytest.raises(ApiError) as exc:
                await harness.dispatcher.generate(call("gemini-2.5-pro"))
            assert exc.value.status == 502 and exc.value.message.startswith("upstream unreachable:")
    await harness.dispatcher.generate(call("gemini-2.5-pro"))  # back at once


async def test_refresh_retry_after_two_429s_is_not_counted_against_the_cap(harness: Harness):
    carol, bob, _alice = (harness.add_antigravity(n) for n in ("carol", "bob", "alice"))
    harness.fake.always("generate", replies.quota_exhausted("1h"), token="tok-carol")
    harness.fake.always("generate", replies.quota_exhausted("1h"), token="tok-bob")
    harness.fake.script("generate", replies.unauthorized(), token="tok-alice")
    for acc in (carol, bob):
        acc.last_used = 0
    harness.pool.settings.mode = "performance_first"
    order = iter(["carol", "bob", "alice"])
    real_pick = harness.pool.pick
    harness.pool.pick = lambda model, key=None, exclude=frozenset(), faults_ok=False: (  # type: ignore[method-assign]
        harness.store.get(f"{next(order)}@example.com") if not faults_ok else real_pick(model, key, exclude, faults_ok))
    resp = await harness.dispatcher.generate(call("gemini-2.5-pro"))
    assert resp["candidates"]
    assert [c.token for c in harness.fake.calls("generate")][-1] != "tok-alice"  # refreshed token used


async def test_budget_spent_on_429s_is_a_429_with_retry_after(harness: Harness):
    for name in ("a", "b", "c", "d"):
        harness.add_antigravity(name)
        harness.fake.always("generate", replies.quota_exhausted("1h"), token=f"tok-{name}")
    with pytest.raises(ApiError) as exc:
        await harness.dispatcher.generate(call("gemini-2.5-pro"))
    assert exc.value.status == 429 and exc.value.retry_after and exc.value.retry_after >= 1


async def test_a_404_for_a_name_like_no_offered_id_says_so_and_names_the_newest(harness: Harness):
    harness.add_antigravity("a")
    harness.fake.use_catalogues(today())
    await read_all(harness)
    with pytest.raises(ApiError) as exc:
        await harness.dispatcher.generate(UpstreamCall("llama-3-70b", REQ))
    assert exc.value.status == 404
    assert "offered ids like it" not in exc.value.message  # no Claude "looks like" llama
    assert "nothing like it; offered: " in exc.value.message
