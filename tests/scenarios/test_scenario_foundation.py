"""Foundation "done when" (SPEC §1, §2, §13), end to end through the real CLI:
no accounts → the exact one-line error and exit 1; z.ai exclusive → `serve` starts
with no account, answers /healthz and a real Anthropic request through z.ai, and
exits 0 on SIGTERM; `config set` shows in `config show` (secrets masked) and keeps
a comment the user wrote in the TOML by hand."""

from __future__ import annotations

import tomllib
from pathlib import Path

import aiohttp
import anthropic

from proxy import jsoncodec
from tests.conftest import find_free_port
from tests.fakes.upstream import FakeUpstream

NO_ACCOUNTS_LINE = "agproxy: no available accounts: add an account first (or enable z.ai dispatch)"
ZAI_KEY = "zai-key-SECRET-4242-abcdef"


async def test_serve_without_accounts_fails_with_one_exact_line(cli, agproxy_home: Path) -> None:
    done = await cli("serve")  # default config, nothing configured at all
    assert done.rc == 1
    assert done.err == NO_ACCOUNTS_LINE + "\n"
    assert done.out == ""
    # z.ai enabled but dispatch off is still "no way to serve anything"
    assert (await cli("config", "set", "zai.enabled", "true")).rc == 0
    assert (await cli("config", "set", "zai.api_key", ZAI_KEY)).rc == 0
    done = await cli("serve", "--port", str(find_free_port()))
    assert (done.rc, done.err) == (1, NO_ACCOUNTS_LINE + "\n")


async def test_config_set_show_and_hand_comment_survive(cli, agproxy_home: Path) -> None:
    done = await cli("config", "set", "proxy.port", "9000")
    assert (done.rc, done.out) == (0, "proxy.port = 9000\n")
    config_file = agproxy_home / "config.toml"
    assert (await cli("config", "path")).out.strip() == str(config_file)

    # the user edits the file by hand: a comment on its own line and one after a value
    text = config_file.read_text()
    assert "port = 9000" in text
    text = "# my agproxy settings, hand-written\n" + text.replace(
        "port = 9000", "port = 9000  # office firewall allows 9000"
    )
    config_file.write_text(text)

    assert (await cli("config", "set", "zai.api_key", ZAI_KEY)).rc == 0
    assert (await cli("config", "set", "proxy.port", "9001")).out == "proxy.port = 9001\n"
    text = config_file.read_text()
    assert "# my agproxy settings, hand-written" in text
    assert "# office firewall allows 9000" in text
    assert tomllib.loads(text)["proxy"]["port"] == 9001

    shown = await cli("config", "show")
    assert shown.rc == 0
    data = tomllib.loads(shown.out)
    assert data["proxy"]["port"] == 9001
    assert ZAI_KEY not in shown.out and data["zai"]["api_key"].endswith("cdef")
    proxy_key = tomllib.loads(text)["proxy"]["api_key"]
    assert proxy_key and proxy_key not in shown.out
    assert (await cli("config", "get", "proxy.port")).out == "9001\n"
    assert ZAI_KEY not in (await cli("config", "get", "zai.api_key")).out
    revealed = await cli("config", "show", "--reveal")
    assert ZAI_KEY in revealed.out and proxy_key in revealed.out

    # an invalid value: one line, exit 1, the file untouched
    before = config_file.read_bytes()
    bad = await cli("config", "set", "zai.dispatch_mode", "sometimes")
    assert bad.rc == 1 and bad.err.count("\n") == 1 and "zai.dispatch_mode" in bad.err
    assert config_file.read_bytes() == before


async def test_zai_exclusive_serves_without_accounts_then_sigterm_exits_0(
    cli, serve, fake: FakeUpstream, agproxy_home: Path
) -> None:
    port = find_free_port()
    for key, value in (
        ("zai.enabled", "true"),
        ("zai.api_key", ZAI_KEY),
        ("zai.dispatch_mode", "exclusive"),
        ("zai.base_url", fake.zai_url),
        ("proxy.port", str(port)),
    ):
        done = await cli("config", "set", key, value)
        assert done.rc == 0, done.err
    assert not (agproxy_home / "accounts").exists() or not list(
        (agproxy_home / "accounts").glob("*.json")
    )

    async with serve(port) as served:
        health = await wait_json(served.url + "/healthz")
        assert health["status"] == "ok"
        client = anthropic.AsyncAnthropic(
            base_url=served.url, api_key="unused", max_retries=0, timeout=10
        )
        try:
            msg = await client.messages.create(
                model="claude-sonnet-4-6",
                max_tokens=50,
                messages=[{"role": "user", "content": "hi z"}],
            )
        finally:
            await client.close()
        assert msg.content[0].text == "echo: hi z"
        (call,) = fake.calls("zai")
        assert call.token == ZAI_KEY and call.body["model"] == "glm-4.7"
        rc = await served.stop()
    assert rc == 0, served.err
    assert f"http://127.0.0.1:{port}" in served.err  # the startup line
    assert ZAI_KEY not in served.err
    log = (agproxy_home / "logs" / "agproxy.log").read_text()
    assert "agproxy listening" in log and "agproxy stopped" in log and ZAI_KEY not in log


async def wait_json(url: str) -> dict:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        return jsoncodec.loads(await resp.read())
