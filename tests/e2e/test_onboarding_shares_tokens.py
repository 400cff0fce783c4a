"""One token manager (issue 11): account onboarding refreshes through the service's
TokenManager, so a refresh it forces while a request refreshes the same account is one
call to Google's token endpoint, not two (a second refresh can revoke the first's
token for a client already using it)."""

from __future__ import annotations

import asyncio
import time

from tests.e2e.conftest import E2E


async def test_an_onboarding_refresh_and_a_request_share_one_token_refresh(e2e: E2E) -> None:
    service = e2e.service
    assert service.onboarding.tokens is service.dispatcher.tokens
    [account] = service.accounts.list()
    service.accounts.update_tokens(account, "tok-expired", time.time() - 60)
    e2e.fake.token_delay = 0.3  # both callers are waiting on it at once
    e2e.fake.requests.clear()

    async def ask() -> str:
        reply = await e2e.openai().chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
        return reply.choices[0].message.content or ""

    problems, text = await asyncio.gather(service.onboarding.refresh_account(account), ask())
    assert problems == [] and text == "echo: hi"
    assert len(e2e.fake.calls("token")) == 1
