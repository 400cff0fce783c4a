"""Accounts "done when" (SPEC §5, §7, §12, §13), end to end through the real CLI and
the official SDKs: the reference app's account files are imported, `agproxy serve`
refreshes their expired tokens against the (fake) Google token endpoint, answers
OpenAI and Anthropic SDK requests, rotates to the second account when the first one's
quota is exhausted, and persists the cooldown and the refreshed tokens; `accounts
list`, `accounts export` and `logs --json` show it all — and no secret leaks into
the monitor database, the log file or any command's output."""

from __future__ import annotations

import json
import re
import stat
import time
import tomllib
from pathlib import Path
from typing import Any

import anthropic
import openai

from proxy import jsoncodec
from tests.conftest import find_free_port
from tests.fakes.replies import quota_exhausted
from tests.fakes.upstream import FakeUpstream

ALICE = {
    "email": "alice@example.net",
    "refresh": "1//0gFAKE-alice-REFRESH-Qx7Zt9",
    "access": "ya29.FAKE-alice-OLD-ACCESS-11",
}
BOB = {
    "email": "bob@example.net",
    "refresh": "1//0gFAKE-bob-REFRESH-Lm3Kp2",
    "access": "ya29.FAKE-bob-OLD-ACCESS-22",
}


def reference_file(folder: Path, who: dict[str, str], uuid: str) -> Path:
    """The reference app's `~/.antigravity_tools/accounts/<uuid>.json`, with an
    access token that expired an hour ago (so serving must refresh it)."""
    data = {
        "id": uuid,
        "email": who["email"],
        "name": who["email"].split("@")[0].title(),
        "token": {
            "access_token": who["access"],
            "refresh_token": who["refresh"],
            "expires_in": 3599,
            "expiry_timestamp": int(time.time()) - 3600,
            "token_type": "Bearer",
            "project_id": f"proj-{who['email'].split('@')[0]}",
        },
        "disabled": False,
        "created_at": int(time.time()) - 86400 + (0 if who is ALICE else 60),
        "last_used": 0,
    }
    path = folder / f"{uuid}.json"
    path.write_text(json.dumps(data, indent=2))
    return path


def lines_json(text: str) -> list[dict[str, Any]]:
    return [jsoncodec.loads(line) for line in text.splitlines() if line.strip()]


def assert_no_secret(where: str, data: bytes, secrets: list[str]) -> None:
    for secret in secrets:
        # issued fake tokens are short (`at-1`): match them as whole tokens only
        pattern = rb"(?<![\w.-])" + re.escape(secret.encode()) + rb"(?![\w.-])"
        assert not re.search(pattern, data), f"{secret!r} leaked into {where}"


async def test_import_serve_refresh_rotate_list_export_logs(
    cli, serve, fake: FakeUpstream, agproxy_home: Path, tmp_path: Path
) -> None:
    ref = tmp_path / "antigravity_tools"
    ref.mkdir()
    # the upstream first: an import reads the accounts' catalogues at once (SPEC §9)
    port = find_free_port()
    for key, value in (
        ("upstream.antigravity_endpoints", json.dumps([f"{fake.url}/a/v1internal"])),
        ("upstream.oauth_token_url", fake.token_url),
        ("upstream.gemini_base_url", fake.url),
        ("zai.base_url", fake.zai_url),
        ("proxy.port", str(port)),
        ("proxy.auth_mode", "all_except_health"),
        ("scheduling.preferred_account", ALICE["email"]),  # alice first, so rotation is visible
        ("monitor.capture_bodies", "all"),  # the most the monitor can store: still no secret
    ):
        done = await cli("config", "set", key, value)
        assert done.rc == 0, (key, done.err)
    done = await cli(
        "accounts",
        "import",
        str(reference_file(ref, ALICE, "0a1b2c3d-0000-4000-8000-00000000a11c")),
    )
    assert done.rc == 0, done.err
    assert "added    alice@example.net" in done.out and "1 added, 0 updated, 0 skipped" in done.out
    done = await cli(
        "accounts", "import", str(reference_file(ref, BOB, "0a1b2c3d-0000-4000-8000-000000000b0b"))
    )
    assert done.rc == 0 and "added    bob@example.net" in done.out
    # the folder: the same accounts again → updated, not duplicated
    again = await cli("accounts", "import", str(ref))
    assert again.rc == 0 and "0 added, 2 updated" in again.out

    proxy_key = tomllib.loads((agproxy_home / "config.toml").read_text())["proxy"]["api_key"]

    async with serve(port) as served:
        oai = openai.AsyncOpenAI(
            base_url=f"{served.url}/v1", api_key=proxy_key, max_retries=0, timeout=15
        )
        ant = anthropic.AsyncAnthropic(
            base_url=served.url, api_key=proxy_key, max_retries=0, timeout=15
        )
        try:
            # -- plain requests through alice, whose token is refreshed first --------
            chat = await oai.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hello one"}]
            )
            assert chat.choices[0].message.content == "echo: hello one"
            assert chat.usage is not None and chat.usage.total_tokens > 0
            pieces = []
            async for chunk in await oai.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "stream two"}], stream=True
            ):
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
            assert "".join(pieces) == "echo: stream two"
            msg = await ant.messages.create(
                model="claude-sonnet-4-6",
                max_tokens=64,
                messages=[{"role": "user", "content": "three"}],
            )
            assert msg.content[-1].text == "echo: three" and msg.usage.output_tokens > 0
            async with ant.messages.stream(
                model="claude-sonnet-4-6",
                max_tokens=64,
                messages=[{"role": "user", "content": "four"}],
            ) as stream:
                final = await stream.get_final_message()
            assert final.content[-1].text == "echo: four"

            # imports read every account's catalogue (SPEC §9), refreshing their tokens
            refreshes = [r.body["refresh_token"] for r in fake.calls("token")]
            assert set(refreshes) == {ALICE["refresh"], BOB["refresh"]}
            alice_token = fake.issued[len(refreshes) - 1 - refreshes[::-1].index(ALICE["refresh"])]
            generated = fake.calls("generate")
            assert len(generated) == 4 and {c.token for c in generated} == {alice_token}
            assert {c.body["project"] for c in generated} == {"proj-alice"}

            # -- alice's quota is exhausted: the same request moves to bob -----------
            fake.always("generate", quota_exhausted("1h2m3.5s"), token=alice_token)
            before = len(fake.calls("generate"))
            chat = await oai.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "rotate me"}]
            )
            assert chat.choices[0].message.content == "echo: rotate me"
            tried = [c.token for c in fake.calls("generate")[before:]]
            refreshes = [r.body["refresh_token"] for r in fake.calls("token")]
            bob_token = fake.issued[len(refreshes) - 1 - refreshes[::-1].index(BOB["refresh"])]
            assert bob_token != alice_token
            assert tried == [alice_token, bob_token]
            # alice is cooling now: the next request goes straight to bob
            before = len(fake.calls("generate"))
            chat = await oai.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "six"}]
            )
            assert chat.choices[0].message.content == "echo: six"
            assert [c.token for c in fake.calls("generate")[before:]] == [bob_token]
        finally:
            await oai.close()
            await ant.close()

        # -- while it runs, another shell sees the cooldown (persisted at once) --------
        listed = await cli("accounts", "list")
        assert listed.rc == 0, listed.err
        alice_line = next(line for line in listed.out.splitlines() if ALICE["email"] in line)
        assert "cooling" in alice_line and "in 1h0" in alice_line, listed.out
        assert "2 account(s), 2 usable" in listed.out

        assert await served.stop() == 0, served.err
        serve_stderr = served.err

    # -- after stop: state, tokens and counters on disk -----------------------------------
    listed_json = await cli("accounts", "list", "--json")
    views = {v["email"]: v for v in lines_json(listed_json.out)}
    assert set(views) == {ALICE["email"], BOB["email"]}
    cooling = views[ALICE["email"]]["cooldowns"]
    assert cooling and all(until - time.time() > 3600 for until in cooling.values())
    assert not views[BOB["email"]]["cooldowns"]

    export = tmp_path / "out" / "accounts-export.json"
    done = await cli("accounts", "export", str(export))
    assert done.rc == 0 and "exported 2 account(s)" in done.out
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    exported = {a["email"]: a for a in jsoncodec.loads(export.read_bytes())["accounts"]}
    assert exported[ALICE["email"]]["refresh_token"] == ALICE["refresh"]
    # the refreshed tokens were persisted (not the expired ones from the import)
    assert exported[ALICE["email"]]["access_token"] == alice_token
    assert exported[BOB["email"]]["access_token"] == bob_token
    assert all(a["token_expiry"] > time.time() + 600 for a in exported.values())
    # the batched counters were flushed on stop
    assert exported[ALICE["email"]]["requests"] >= 4 and exported[BOB["email"]]["requests"] >= 2

    logs = await cli("logs", "--json", "-n", "50")
    assert logs.rc == 0, logs.err
    records = lines_json(logs.out)
    assert len(records) == 6
    assert [r["status"] for r in records] == [200] * 6
    assert [r["account"] for r in records] == [ALICE["email"]] * 4 + [BOB["email"]] * 2
    assert [r["protocol"] for r in records] == [
        "openai",
        "openai",
        "anthropic",
        "anthropic",
        "openai",
        "openai",
    ]
    assert all(r["input_tokens"] > 0 and r["output_tokens"] > 0 for r in records)
    rotated = records[4]
    assert [(a["account"], a["status"]) for a in rotated["attempts"]] == [
        (ALICE["email"], 429),
        (BOB["email"], 200),
    ]
    human = await cli("logs", "-n", "50")
    assert human.rc == 0 and human.out.count("\n") == 6 and BOB["email"] in human.out

    # -- no secret anywhere a user or a log shipper could read -----------------------
    secrets = [
        ALICE["refresh"],
        ALICE["access"],
        BOB["refresh"],
        BOB["access"],
        alice_token,
        bob_token,
        proxy_key,
    ]
    outputs = (
        "".join(d.out + d.err for d in (listed, listed_json, logs, human, done)) + serve_stderr
    )
    assert_no_secret("command output", outputs.encode(), secrets)
    monitor_files = sorted(agproxy_home.glob("monitor.sqlite3*"))
    assert monitor_files, sorted(p.name for p in agproxy_home.iterdir())
    for path in monitor_files:
        assert_no_secret(path.name, path.read_bytes(), secrets)
    for path in (agproxy_home / "logs").iterdir():
        assert_no_secret(path.name, path.read_bytes(), secrets)
    # the records do hold the request bodies (capture all): the check above looked at real data
    assert b"rotate me" in b"".join(p.read_bytes() for p in monitor_files)
