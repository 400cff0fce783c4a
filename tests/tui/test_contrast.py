"""Every text on screen reads at WCAG AA (≥ 4.5:1) in both themes (issue 13).

The app is toured (each tab, a focused form field, the traffic cursor focused and
blurred, the filter line, help, a request detail, a dialog, a toast of each
severity) and every painted character of every screen is measured: the foreground
and background Textual's compositor resolved for it (alpha blended, ANSI names
mapped, `dim` blended as Textual's DimFilter does), against the WCAG formula.
Exempt, as WCAG exempts them: disabled controls, graphics (box drawing, bars,
sparklines: U+2500-U+259F), and the screen faded behind a dialog."""

from __future__ import annotations

import pytest
from rich.color import Color as RichColor
from textual.filter import dim_color

from tui.demo import DemoApp
from tui.theme import DARK, LIGHT

AA = 4.5
GRAPHICS = range(0x2500, 0x25A0)


def luminance(color: RichColor) -> float:
    def channel(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = color.get_truecolor()
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(fg: RichColor, bg: RichColor) -> float:
    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_wcag_formula() -> None:
    black, white = RichColor.parse("#000000"), RichColor.parse("#ffffff")
    assert contrast(black, white) == pytest.approx(21.0)
    assert contrast(white, white) == pytest.approx(1.0)
    assert contrast(RichColor.parse("#777777"), white) == pytest.approx(4.48, abs=0.01)


def low_contrast(app, where: str) -> list[str]:
    """Every run of text on the current screen below AA: "where 'text' 1.3:1 (#fg on #bg)"."""
    found = []
    for y, strip in enumerate(app.screen._compositor.render_strips()):
        x = 0
        for seg in strip:
            text, style, x0 = seg.text, seg.style, x
            x += seg.cell_length
            if not text.strip() or all(c.isspace() or ord(c) in GRAPHICS for c in text):
                continue
            assert style is not None and style.color and style.bgcolor, (where, text)
            fg, bg = style.color, style.bgcolor
            if style.reverse:
                fg, bg = bg, fg
            if style.dim:
                fg = dim_color(bg, fg, 0.5)
            ratio = contrast(fg, bg)
            if ratio >= AA:
                continue
            widget, _ = app.screen.get_widget_at(x0 + len(text) - len(text.lstrip()), y)
            if widget is app.screen and app.screen.is_modal:
                continue  # the screen behind a dialog, faded on purpose
            if widget.disabled or any(getattr(a, "disabled", False) for a in widget.ancestors):
                continue
            found.append(
                f"{where} {text.strip()[:40]!r} {ratio:.2f}:1 "
                f"(#{fg.get_truecolor().hex[1:]} on #{bg.get_truecolor().hex[1:]})"
            )
    return found


async def tour(app: DemoApp, pilot, size: tuple[int, int]) -> list[str]:
    bad: list[str] = []

    async def look(where: str) -> None:
        await pilot.pause()
        bad.extend(low_contrast(app, f"{size[0]}x{size[1]} {where}:"))

    await look("traffic (cursor focused)")
    await pilot.press("slash")
    await look("traffic filter (cursor blurred)")
    await pilot.press("escape", "escape")
    for key, tab in (("2", "accounts"), ("3", "settings"), ("4", "connect"), ("5", "log"),
                     ("6", "stats")):  # fmt: skip
        await pilot.press(key)
        await look(tab)
    await pilot.press("3")
    await pilot.press("pagedown")  # a field of the next section has the focus: row lit up
    await look("settings, focused field")
    await pilot.press("escape", "ctrl+g")
    await look("confirm dialog")
    await pilot.press("escape", "1", "up", "enter")
    await look("request detail")
    await pilot.press("escape", "question_mark")
    await look("help")
    await pilot.press("escape")
    for severity in ("information", "warning", "error"):
        app.notify(f"a {severity} toast", title="Proxy", severity=severity, timeout=30)
    await look("toasts")
    return bad


# One size: the colours do not depend on it (80×24 only hides columns), and each tour
# costs ~7 s of the suite's 5-minute budget.
@pytest.mark.parametrize("theme", [DARK, LIGHT])
@pytest.mark.parametrize("size", [(120, 40)])
async def test_every_text_reads_at_4_5_to_1(home, theme: str, size: tuple[int, int]) -> None:
    app = DemoApp()
    app.theme = theme
    async with app.run_test(size=size) as pilot:
        bad = await tour(app, pilot, size)
    assert not bad, "\n".join(dict.fromkeys(bad))


@pytest.mark.parametrize("theme", [DARK, LIGHT])
async def test_every_palette_class_reads_at_4_5_to_1(home, theme: str) -> None:
    """The classes the tables and header paint with, shown or not in the demo: every
    status (2xx, 3xx, 4xx, 429, 5xx, in flight), account state, quota level, header
    state (running, stopped, the LAN warning badge, the base URL)."""
    from tui.widgets.accounts import AccountsTable
    from tui.widgets.status_header import StatusHeader
    from tui.widgets.traffic_table import TrafficTable

    app = DemoApp()
    app.theme = theme
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        bad = []
        for widget_type in (StatusHeader, TrafficTable, AccountsTable):
            widget = app.query_one(widget_type)
            names = [n for n in widget_type.COMPONENT_CLASSES if n.split("--")[0] in
                     ("header", "traffic", "accounts", "quota")]  # fmt: skip
            assert len(names) >= 5
            for name in names:
                style = widget.get_component_rich_style(name)
                ratio = contrast(style.color, style.bgcolor)
                if ratio < AA:
                    bad.append(f"{name} {ratio:.2f}:1")
    assert not bad, bad


async def test_t_toggles_between_the_two_readable_themes(home) -> None:
    app = DemoApp()
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.theme == DARK
        await pilot.press("t")
        await pilot.pause()
        assert app.theme == LIGHT
        await pilot.pause(0.1)  # the Accounts table repaints in the new palette
        await pilot.press("2")
        await pilot.pause()
        assert low_contrast(app, "accounts after t") == []
        await pilot.press("t")
        await pilot.pause()
        assert app.theme == DARK


async def test_the_measure_catches_textual_s_own_light_theme(home) -> None:
    """What the issue measured on Textual's light theme (base URL 1.27:1, headings 1.49:1)."""
    app = DemoApp()
    async with app.run_test(size=(120, 40)) as pilot:
        app.theme = "textual-light"
        await pilot.pause()
        app.query_one("StatusHeader")._reshow()
        await pilot.pause()
        bad = low_contrast(app, "")
        assert any("'http://127.0.0.1:8045' 1.27:1" in b for b in bad), bad
        await pilot.press("3")
        await pilot.pause()
        assert any("'Proxy' 1.49:1" in b for b in low_contrast(app, "")), bad


@pytest.mark.parametrize("theme", [DARK, LIGHT])
async def test_the_focused_settings_field_stands_out_in_both_themes(home, theme: str) -> None:
    from textual.widgets import Static

    from tui.widgets.settings import SettingsPane

    app = DemoApp()
    app.theme = theme
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        pane = app.query_one(SettingsPane)
        focused, other = pane.field("proxy.request_timeout"), pane.field("proxy.max_body_mb")
        focused.control.focus()
        await pilot.pause()
        lit = focused.query_one(".field-label", Static).rich_style
        plain = other.query_one(".field-label", Static).rich_style
        assert contrast(lit.color, lit.bgcolor) >= AA  # readable on the highlight
        assert contrast(lit.bgcolor, plain.bgcolor) >= 1.8, (lit.bgcolor, plain.bgcolor)
        assert lit.bold and not plain.bold
