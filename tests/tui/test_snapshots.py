"""SVG snapshots of the seeded demo app (frozen clock, fake traffic, masked keys)
at 80×24 and 120×40. Update after an intended change with `--snapshot-update`."""

from __future__ import annotations

import pytest

from tui.demo import DemoApp


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_traffic_tab(snap_compare, home, size) -> None:
    assert snap_compare(DemoApp(), terminal_size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_accounts_tab(snap_compare, home, size) -> None:
    assert snap_compare(DemoApp(), press=["2"], terminal_size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_settings_tab(snap_compare, home, size) -> None:
    assert snap_compare(DemoApp(), press=["3"], terminal_size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_connect_tab(snap_compare, home, size) -> None:
    assert snap_compare(DemoApp(), press=["4"], terminal_size=size)


def test_request_detail(snap_compare, home) -> None:
    assert snap_compare(DemoApp(), press=["up"] * 8 + ["enter"], terminal_size=(120, 40))


def test_account_detail(snap_compare, home) -> None:
    assert snap_compare(DemoApp(), press=["2", "down", "enter"], terminal_size=(80, 24))


def test_help_screen(snap_compare, home) -> None:
    assert snap_compare(DemoApp(), press=["question_mark"], terminal_size=(80, 24))


def test_light_theme(snap_compare, home) -> None:
    assert snap_compare(DemoApp(), press=["t"], terminal_size=(120, 40))
