"""The Traffic tab: live rows from real requests, filter, detail, follow, pause, clear, history."""

from __future__ import annotations

import asyncio
import copy

import aiohttp

from proxy.config.store import ConfigStore
from proxy.paths import resolve_paths
from proxy.service import ProxyService
from tests.tui.conftest import write_account
from tui.app import AgproxyApp
from tui.demo import DemoApp, demo_records
from tui.screens.detail import DetailScreen
from tui.widgets.status_header import StatusHeader
from tui.widgets.traffic import MAX_ROWS, TRIM_SLACK, TrafficPane
from tui.widgets.traffic_table import TrafficTable


async def settle(app, pilot) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause(0.3)  # one drain tick (0.25 s)


async def test_requests_to_the_running_proxy_appear_live(home, port, make_app) -> None:
    write_account(home)
    app = await make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("s")
        await settle(app, pilot)
        assert app.controller.status().running
        before = app.traffic_refreshes
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                async with http.post(
                    f"http://127.0.0.1:{port}/v1/chat/completions", data=b"{not json"
                ) as r:
                    assert r.status == 400
            async with http.post(f"http://127.0.0.1:{port}/v1/messages", json={"model": 1}) as r:
                assert r.status == 400
        pane = app.query_one(TrafficPane)
        for _ in range(20):  # the drain timer runs 4×/s; allow for a loaded machine
            await settle(app, pilot)
            if len(pane.records) == 4 and all(r.status for r in pane.records.values()):
                break
        rows = list(pane.records.values())
        assert [r.path for r in rows] == ["/v1/chat/completions"] * 3 + ["/v1/messages"]
        assert all(r.status == 400 for r in rows)
        table = app.query_one(TrafficTable)
        assert table.row_count == 4
        assert str(table.get_row_at(3)[1]) == "400"
        assert app.traffic_refreshes > before
        assert pane.follow and table.cursor_row == 3


async def test_a_relaunch_shows_history_and_today_and_filters_and_pages_cover_it(
    home, port, make_app
) -> None:
    write_account(home)
    earlier = ProxyService(ConfigStore(resolve_paths()))
    earlier.store.load()
    await earlier.open()
    await earlier.start()
    async with aiohttp.ClientSession() as http:
        for _ in range(2):
            async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", data=b"x") as r:
                assert r.status == 400
    await earlier.close()

    app = await make_app()  # attached: history, counts and today come from the serve's store
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        pane = app.query_one(TrafficPane)
        # a relaunch shows the recent history, and the header today's totals
        assert len(pane.records) == 2 and pane.follow
        header = app.query_one(StatusHeader)
        assert header.today == (2, 2)
        assert "today 2 req 2 err" in str(header._shown[1])
        # a filter covers the history and says how many match
        pane.apply_filter("errors")
        await settle(app, pilot)
        assert len(pane.records) == 2 and pane.matched == 2
        assert "2 matched in the history" in pane._bar_text
        pane.apply_filter("")
        await settle(app, pilot)
        # paging: a view that holds only the newest row pages the older one in
        newest = max(pane.records)
        pane.records = {newest: pane.records[newest]}
        pane.rebuild()
        await pilot.press("up")
        await settle(app, pilot)
        assert len(pane.records) == 2
        assert not pane.follow


async def test_filter_keeps_only_matching_rows(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        pane = app.query_one(TrafficPane)
        assert len(pane.records) == 12
        await pilot.press("slash", *"status:4xx", "enter")
        await pilot.pause()
        assert sorted(r.status for r in pane.records.values()) == [400, 429]
        assert app.query_one(TrafficTable).row_count == 2
        await pilot.press("escape")  # clears the filter
        await pilot.pause()
        assert len(pane.records) == 12


async def test_bad_filter_is_reported_and_view_unchanged(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("slash", *"colour:red", "enter")
        await pilot.pause()
        assert any("unknown filter key" in n.message for n in app._notifications)
        assert len(app.query_one(TrafficPane).records) == 12


async def test_enter_opens_detail_and_y_copies_curl(home) -> None:
    app = DemoApp()
    rec429 = next(r for r in demo_records() if r.status == 429)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(TrafficPane)
        table = app.query_one(TrafficTable)
        table.move_cursor(row=list(pane.records).index(rec429.id))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        await pilot.pause(1.2)  # status ticks keep working under the detail screen
        text = app.screen.plain_text()
        assert "Attempts" in text and "quota exhausted" in text and "rate_limit_error" in text
        await pilot.press("y")
        # a streamed request replays with -N (curl shows the stream as it arrives)
        assert app.clipboard.startswith("curl -sSN -X POST http://127.0.0.1:8045/v1/messages ")
        assert "$AGPROXY_API_KEY" in app.clipboard and "[redacted]" not in app.clipboard
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DetailScreen)


async def test_moving_up_turns_follow_off_and_f_turns_it_back_on(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(TrafficPane)
        table = app.query_one(TrafficTable)
        assert pane.follow and table.cursor_row == 11
        await pilot.press("up", "up")
        assert not pane.follow and table.cursor_row == 9
        newer = demo_records()[-1]
        newer.id += 10_000_000
        newer.status = 200
        pane.ingest([newer])
        await pilot.pause()
        assert table.cursor_row == 9  # not dragged along
        assert "FOLLOW" not in str(pane.query_one("#traffic-bar").render())
        await pilot.press("f")
        assert pane.follow and table.cursor_row == 12
        await pilot.press("up", "end")
        assert pane.follow


async def test_pause_holds_updates_and_clear_empties_the_view(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(TrafficPane)
        await pilot.press("p")
        newer = demo_records()[-1]
        newer.id += 10_000_000
        pane.ingest([newer])
        assert len(pane.records) == 12
        assert "PAUSED +1" in str(pane.query_one("#traffic-bar").render())
        await pilot.press("p")
        assert len(pane.records) == 13
        await pilot.press("c")
        assert not pane.records and app.query_one(TrafficTable).row_count == 0


async def test_in_flight_row_updates_in_place(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(TrafficPane)
        table = app.query_one(TrafficTable)
        inflight = next(r for r in pane.records.values() if r.status == 0)
        row = list(pane.records).index(inflight.id)
        assert str(table.get_row_at(row)[1]) == "…"
        inflight.status, inflight.duration_ms = 200, 812.0
        pane.ingest([inflight])
        await pilot.pause()
        assert table.row_count == 12
        assert str(table.get_row_at(row)[1]) == "200"
        assert str(table.get_row_at(row)[7]) == "812ms"


async def test_a_burst_of_real_requests_is_drained_in_a_few_batches(home, port) -> None:
    write_account(home)
    app = AgproxyApp()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("s")
        await settle(app, pilot)
        assert app.controller.status().running
        before = app.traffic_refreshes

        async def one(http: aiohttp.ClientSession) -> int:
            async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", data=b"{") as r:
                return r.status

        async with aiohttp.ClientSession() as http:
            statuses = await asyncio.gather(*(one(http) for _ in range(300)))
        assert set(statuses) == {400}
        pane = app.query_one(TrafficPane)
        for _ in range(20):
            await settle(app, pilot)
            if len(pane.records) == 300:
                break
        assert len(pane.records) == 300
        assert app.query_one(TrafficTable).row_count == 300
        assert app.traffic_refreshes - before <= 30  # batched, not one repaint per request


def paint(table: TrafficTable, y: int) -> str:
    return table.render_line(y).text


def segment_style(table: TrafficTable, y: int, text: str):
    return next(s.style for s in table.render_line(y) if s.text.strip() == text)


async def test_thousands_of_rows_keep_the_view_bounded_and_show_the_newest(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(TrafficPane)
        table = app.query_one(TrafficTable)
        template = demo_records()[0]
        burst = []
        for i in range(3000):
            rec = copy.copy(template)
            rec.id = max(pane.records) + 1 + i
            rec.path = f"/v1/messages/{i}"
            burst.append(rec)
        pane.ingest(burst)
        await pilot.pause()
        assert len(pane.records) <= MAX_ROWS + TRIM_SLACK
        assert list(pane.records)[-1] == burst[-1].id
        assert pane.follow and table.cursor_row == table.row_count - 1
        bottom = table.size.height - 1
        assert "/v1/messages/2999" in paint(table, bottom)
        assert len(table._strips) <= table.size.height  # only visible rows were built


async def test_status_classes_are_coloured_and_429_is_distinct(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        table = app.query_one(TrafficTable)
        pane = app.query_one(TrafficPane)
        rows = {rec.status: list(pane.records).index(rid) + 1 for rid, rec in pane.records.items()}
        table.move_cursor(0)  # keep the cursor's highlight off the rows compared
        styles = {st: segment_style(table, rows[st], str(st)) for st in (200, 400, 429, 503)}
        assert len({s.color for s in (styles[200], styles[400], styles[503])}) == 3
        looks = {st: (s.color, s.bgcolor, s.bold) for st, s in styles.items()}
        assert looks[429] not in [looks[st] for st in (200, 400, 503)]
        assert looks[429][1] != looks[200][1]  # a badge: its own background
        inflight = segment_style(table, rows[0], "…")
        assert inflight.italic


async def test_columns_fit_80_columns_and_widen_at_200(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.query_one(TrafficTable)
        header = paint(table, 0)
        assert "path" in header and "tok in→out" in header and "meth" not in header
        assert len(header.rstrip()) <= 80
    app = DemoApp()
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        table = app.query_one(TrafficTable)
        header = paint(table, 0)
        assert "meth" in header and "api" in header
        assert "gpt-4o-mini → gemini-2.5-flash" in "".join(
            paint(table, y) for y in range(1, table.row_count + 1)
        )


async def test_status_header_items_are_separated_and_fit_80_columns(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(1.1)  # one status tick
        header = app.query_one(StatusHeader)
        lines = [str(s.render()) for s in header.query(".status-line")]
        assert all(len(line) <= 78 for line in lines)
        assert "RUNNING  │  http://127.0.0.1:8045" in lines[0] or "RUNNING │ http" in lines[0]
        assert "2/4" in lines[1] and "3.1k" in lines[1] and "│" in lines[1]
        assert "…" not in "".join(lines)  # nothing clipped
    app = DemoApp()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause(1.1)
        line2 = str(app.query_one("#status-line-2").render())
        assert "accounts 2/4  │  requests 3.1k  │  errors 97 (3.1%)" in line2


async def test_clicking_a_row_selects_it_and_turns_follow_off(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        pane = app.query_one(TrafficPane)
        table = app.query_one(TrafficTable)
        await pilot.click(TrafficTable, offset=(20, 3))  # line 0 is the header
        assert table.cursor_row == 2 and not pane.follow
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.record.id == list(pane.records)[2]


async def test_theme_change_repaints_rows_in_the_new_palette(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        table = app.query_one(TrafficTable)
        table.move_cursor(0)
        dark = segment_style(table, 2, "200")
        await pilot.press("t")
        await pilot.pause()
        light = segment_style(table, 2, "200")
        assert dark.bgcolor != light.bgcolor


async def test_first_launch_says_what_to_do_instead_of_an_empty_table(home, port) -> None:
    from textual.widgets import Static

    app = AgproxyApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        pane = app.query_one(TrafficPane)
        hint = pane.query_one("#traffic-empty", Static)
        assert pane.has_class("-empty") and hint.display and hint.region.height >= 3
        text = pane.hint
        for words in ("No requests yet", "press 2", "a (refresh token)", "o (OAuth login)",
                      "k (Gemini key)", "i (import)", "s starts", f"127.0.0.1:{port}",
                      "4 (Connect)"):  # fmt: skip
            assert words in text, words
        screen_text = "\n".join(
            "".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips()
        )
        assert "a (refresh token)" in screen_text  # all of it fits at 80×24, not cut
        # the first row replaces the hint with the table
        pane.ingest(demo_records()[:1])
        await pilot.pause()
        assert not pane.has_class("-empty") and not hint.display
        # a filter with no match shows the (empty) table, not the first-launch text
        pane.action_clear()
        pane.apply_filter("status:5xx")
        await pilot.pause()
        assert not pane.has_class("-empty")
    # with an account: the hint moves on to starting the proxy
    write_account(home)
    app = AgproxyApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        hint = app.query_one(TrafficPane).hint
        assert "Press s to start" in hint and "press 2" not in hint


async def test_detail_names_the_client_key_and_says_when_no_upstream_was_called(
    home, port
) -> None:
    """A request refused before any upstream call (403: the key may not use the model)
    shows the key's name, never the key, and says no upstream was called."""
    write_account(home)
    store = ConfigStore(resolve_paths())
    store.load()
    store.set("proxy.auth_mode", "all_except_health")
    app = AgproxyApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s")
        await settle(app, pilot)
        key = await app.controller.add_client_key(
            "alice", models=["gemini-*"], rpm=0, tokens_per_day=0, expires=0.0
        )
        async with aiohttp.ClientSession() as http, http.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {key}"},
        ) as r:
            assert r.status == 403
        pane = app.query_one(TrafficPane)
        for _ in range(20):
            await settle(app, pilot)
            if pane.records and all(r.status for r in pane.records.values()):
                break
        rec = next(r for r in pane.records.values() if r.status == 403)
        app.query_one(TrafficTable).move_cursor(row=list(pane.records).index(rec.id))
        await pilot.press("1", "enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, DetailScreen)
        lines = app.screen.plain_text().splitlines()
        assert any(line.split() == ["client", "key", "alice"] for line in lines), lines
        assert any(line.split() == ["account", "—", "(no", "upstream", "call)"] for line in lines)
        assert key not in "\n".join(lines) and key[-8:] not in "\n".join(lines)
