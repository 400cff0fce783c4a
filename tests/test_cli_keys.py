"""`agproxy keys` output: the warning when auth is off (client keys are then not checked)
and the one note saying a running proxy applied the change."""

from __future__ import annotations

import asyncio
import os
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator

import pytest

from proxy.cli import main
from proxy.control.local import InProcessController
from proxy.paths import Paths
from tests.conftest import find_free_port, serving_daemon

WARNING = (
    "auth is off (proxy.auth_mode = auto on localhost): client keys and their limits are "
    "not checked until you set proxy.auth_mode = all_except_health or strict"
)


def keys(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["keys", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_add_and_rotate_warn_when_the_default_auth_mode_is_off(capsys, configure) -> None:
    code, out, err = keys(capsys, "add", "alice", "--models", "claude-*", "--rpm", "30")
    assert code == 0 and out.startswith("sk-ag-")
    assert f"agproxy keys: warning: {WARNING}" in err
    assert WARNING not in out  # stdout is only the key (scripts read it)
    code, out, err = keys(capsys, "rotate", "alice")
    assert code == 0 and WARNING in err
    code, out, err = keys(capsys, "list")
    assert code == 0 and out.splitlines()[-1] == f"note: {WARNING}"
    code, out, err = keys(capsys, "list", "--json")
    assert code == 0 and WARNING in err and out.lstrip().startswith("[")


@pytest.mark.parametrize("mode", ["strict", "all_except_health"])
def test_no_warning_when_client_keys_are_checked(capsys, configure, mode: str) -> None:
    configure(**{"proxy.auth_mode": mode})
    code, _out, err = keys(capsys, "add", "alice")
    assert code == 0 and "warning" not in err
    assert "auth is off" not in keys(capsys, "list")[1]


def test_auth_on_by_lan_access_in_the_file_is_no_warning(capsys, configure) -> None:
    configure(**{"proxy.allow_lan_access": True})  # auto with LAN: all_except_health
    assert "auth is off" not in keys(capsys, "add", "alice")[2]


def test_an_explicit_off_is_named_as_such(capsys, configure) -> None:
    configure(**{"proxy.auth_mode": "off"})
    err = keys(capsys, "add", "alice")[2]
    assert "auth is off (proxy.auth_mode = off): client keys" in err


@pytest.fixture
async def serving(paths: Paths) -> AsyncIterator[InProcessController]:
    """A proxy of this process answering on the config's control socket, as a serve does."""
    async with serving_daemon(paths, find_free_port()) as local:
        yield local


async def cli(*args: str) -> tuple[int, str, str]:
    """`agproxy ARGS` in a child process (the control socket is served by this loop)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", *args, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_through_a_running_proxy_the_note_is_said_once_and_its_auth_mode_counts(
    serving: InProcessController,
) -> None:
    applied = f"(applied by the running proxy, pid {os.getpid()})"
    code, out, err = await cli("keys", "add", "alice", "--models", "claude-*", "--rpm", "30")
    assert code == 0 and out.startswith("sk-ag-"), err
    assert err.count(applied) == 1 and WARNING in err
    code, out, err = await cli("keys", "revoke", "alice")
    assert code == 0 and out == "client key 'alice' revoked\n" and err.count(applied) == 1
    # the running proxy's mode is the one enforced: set there, it holds at once
    await serving.set_config("proxy.auth_mode", "strict")
    code, out, err = await cli("keys", "rotate", "alice")
    assert code == 0 and err.count(applied) == 1 and "warning" not in err
    code, out, err = await cli("keys", "list")
    assert code == 0 and "auth is off" not in out + err and err.count(applied) == 1
