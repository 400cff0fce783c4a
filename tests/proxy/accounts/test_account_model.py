"""Account model: states, selectability (SPEC §5), serialisation, no secrets in views."""

from __future__ import annotations

import pytest

from proxy.accounts.catalogue import Catalogue, ModelEntry
from proxy.accounts.model import (
    VERIFICATION_RETRY_S,
    Account,
    AccountKind,
    AccountState,
    QuotaInfo,
)

NOW = 1_800_000_000.0
MODEL = "claude-sonnet-4-5"


def ag(**kw) -> Account:
    return Account.antigravity(
        "user@example.com", "1//refresh-secret", access_token="ya29.secret", **kw
    )


@pytest.mark.parametrize(
    ("kw", "selectable"),
    [
        ({}, True),
        ({"disabled": True}, False),
        ({"state": AccountState.AUTH_FAILED}, False),
        ({"state": AccountState.FORBIDDEN}, False),
        ({"state": AccountState.DISABLED}, False),
        ({"state": AccountState.VERIFICATION_REQUIRED, "state_until": NOW + 10}, False),
        ({"state": AccountState.VERIFICATION_REQUIRED, "state_until": NOW - 1}, True),
        ({"state": AccountState.COOLING, "state_until": NOW + 10}, False),
        ({"state": AccountState.COOLING, "state_until": NOW - 1}, True),
        ({"cooldowns": {MODEL: NOW + 5}}, False),
        ({"cooldowns": {MODEL: NOW - 5}}, True),
        ({"cooldowns": {"gemini-2.5-pro": NOW + 5}}, True),
        ({"cooldowns": {"*": NOW + 5}}, False),
        ({"quota": {MODEL: QuotaInfo(0.0, NOW + 600, NOW - 10)}}, False),
        ({"quota": {MODEL: QuotaInfo(0.0, NOW - 1, NOW - 700)}}, True),
        ({"quota": {MODEL: QuotaInfo(0.4, NOW + 600, NOW - 10)}}, True),
        ({"quota": {MODEL: QuotaInfo(None, None, NOW - 10)}}, True),
        ({"quota": {"gemini-2.5-pro": QuotaInfo(0.0, NOW + 600, NOW)}}, True),
    ],
)
def test_selectability_table(kw, selectable):
    assert ag(**kw).is_selectable(MODEL, NOW) is selectable


def test_never_fetched_quota_is_selectable():
    acc = ag()
    assert acc.quota == {} and acc.is_selectable(MODEL, NOW)


def test_exhausted_without_reset_time_is_trusted_only_briefly():
    acc = ag(quota={MODEL: QuotaInfo(0.0, None, NOW)})
    assert not acc.is_selectable(MODEL, NOW + 10)
    assert acc.is_selectable(MODEL, NOW + 3600)


def test_kind_compatibility():
    key = Account.gemini_key("AIzaSyA-example-key-1234")
    assert key.serves("gemini-2.5-flash") and not key.serves("claude-sonnet-4-5")
    acc = ag()
    assert acc.serves("gemini-2.5-flash") and acc.serves("claude-opus-4-5-thinking")
    assert not acc.serves("glm-4.7")
    # once its catalogue is known, an account serves exactly what the catalogue lists
    acc.catalogue = Catalogue({"some-new-model": ModelEntry("some-new-model")}, {}, NOW)
    assert acc.serves("some-new-model") and not acc.serves("gemini-2.5-flash")
    key.catalogue = Catalogue({"gemini-3-flash-preview": ModelEntry("gemini-3-flash-preview")}, {}, NOW)
    assert key.serves("gemini-3-flash")  # the Antigravity id a key sends under its public name


def test_model_that_404ed_is_unavailable_until_a_later_read():
    acc = ag()
    acc.catalogue = Catalogue({MODEL: ModelEntry(MODEL)}, {}, NOW)
    acc.mark_unavailable(MODEL, NOW)
    assert not acc.serves(MODEL) and MODEL not in acc.offered()
    acc.set_catalogue(Catalogue({MODEL: ModelEntry(MODEL)}, {}, NOW + 5))  # the re-read right after
    assert not acc.serves(MODEL)
    acc.set_catalogue(Catalogue({MODEL: ModelEntry(MODEL)}, {}, NOW + 3600))
    assert acc.serves(MODEL)


def test_catalogue_survives_the_account_file():
    acc = ag()
    acc.catalogue = Catalogue({MODEL: ModelEntry(MODEL, thinking=True), "chat_1": ModelEntry("chat_1", internal=True)},
                              {"old": MODEL}, NOW)
    back = Account.from_json(acc.to_json())
    assert back.catalogue is not None and back.catalogue.offered == {MODEL}
    assert back.catalogue.deprecated == {"old": MODEL} and back.catalogue.read_at == NOW
    assert back.catalogue.models[MODEL].thinking


def test_effective_state_shows_disabled_and_expires_timed_states():
    assert (
        ag(disabled=True, state=AccountState.FORBIDDEN).effective_state(NOW)
        is AccountState.DISABLED
    )
    vr = ag(state=AccountState.VERIFICATION_REQUIRED, state_until=NOW + VERIFICATION_RETRY_S)
    assert vr.effective_state(NOW) is AccountState.VERIFICATION_REQUIRED
    assert vr.effective_state(NOW + VERIFICATION_RETRY_S + 1) is AccountState.ACTIVE
    assert ag(cooldowns={"*": NOW + 3}).effective_state(NOW) is AccountState.COOLING
    assert ag(state=AccountState.AUTH_FAILED).effective_state(NOW) is AccountState.AUTH_FAILED


def test_blocked_until_reports_waits_and_dead_accounts():
    assert ag(cooldowns={MODEL: NOW + 7}).blocked_until(MODEL, NOW) == NOW + 7
    assert ag(quota={MODEL: QuotaInfo(0.0, NOW + 99, NOW)}).blocked_until(MODEL, NOW) == NOW + 99
    assert ag(state=AccountState.FORBIDDEN).blocked_until(MODEL, NOW) is None
    assert Account.gemini_key("AIzaSyXXXXXXXX").blocked_until(MODEL, NOW) is None


def test_json_round_trip_keeps_everything():
    acc = ag(
        project_id="proj-1",
        token_expiry=NOW + 3000,
        state=AccountState.VERIFICATION_REQUIRED,
        state_reason="verify",
        state_until=NOW + 600,
        validation_url="https://accounts.google.com/verify",
        cooldowns={MODEL: NOW + 5},
        quota={MODEL: QuotaInfo(0.25, NOW + 100, NOW)},
        requests=3,
        errors=1,
    )
    back = Account.from_json(acc.to_json())
    assert back.to_json() == acc.to_json()
    assert back.kind is AccountKind.ANTIGRAVITY and back.state is AccountState.VERIFICATION_REQUIRED


def test_unknown_state_from_newer_version_loads_as_active():
    data = ag().to_json() | {"state": "something_new"}
    assert Account.from_json(data).state is AccountState.ACTIVE


def test_secrets_never_in_repr_or_public_view():
    acc = ag()
    key = Account.gemini_key("AIzaSyA-very-secret-key-9876")
    for text in (repr(acc), repr(key), str(acc.public_view(NOW)), str(key.public_view(NOW))):
        assert "1//refresh-secret" not in text
        assert "ya29.secret" not in text
        assert "AIzaSyA-very-secret-key-9876" not in text
    assert key.label == "key …9876"


def test_model_cooldowns_merge_429_and_fault_coolings_and_leave_out_the_account_wide_one():
    acc = Account.antigravity("a@example.com", "rt")
    now = 1000.0
    acc.cooldowns = {"*": now + 50, "claude-sonnet-4-6": now + 30, "gemini-3-flash": now - 1}
    acc.fault_cooldowns = {"claude-sonnet-4-6": now + 40, "gemini-3-pro-high": now + 5}
    assert acc.model_cooldowns(now) == {"claude-sonnet-4-6": now + 40, "gemini-3-pro-high": now + 5}
