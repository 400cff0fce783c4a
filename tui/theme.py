"""agproxy's two themes: the one place its colours are chosen.

Textual's own light theme paints orange and green text on light grey (the base URL
measured 1.27:1, headings 1.49:1) and its dark theme a dark blue and a dark red on
near black. These themes keep Textual's look but pick every colour that is used as
text so it reads at WCAG AA (≥ 4.5:1) on the backgrounds it is drawn on (background,
surface, panel); tests/tui/test_contrast.py measures it in both themes. The stylesheet
(tui/agproxy.tcss) names only theme variables, so `t` swaps the whole palette."""

from __future__ import annotations

from rich.terminal_theme import TerminalTheme
from textual.theme import Theme

DARK = "agproxy-dark"
LIGHT = "agproxy-light"

AGPROXY_DARK = Theme(
    name=DARK,
    primary="#4DA6EE",  # Textual's #0178D4 is 3.7:1 on the surface
    secondary="#6FA8DC",  # #004578 is 1.7:1
    accent="#FEA62B",
    warning="#FEA62B",
    error="#F0718C",  # #B93C5B is 3.1:1
    success="#4EBF71",
    foreground="#E0E0E0",
    background="#121212",
    surface="#1E1E1E",
    panel="#242F38",
    dark=True,
    variables={
        # fixed greys, not Textual's "auto 60%/38%": partial styles (the tables' cells)
        # cannot resolve "auto", and 38% is 3.5:1
        "text-muted": "#A3A3A3",
        "text-disabled": "#8F8F8F",
        "block-cursor-background": "#0B5FA5",  # white row text on the cursor: 6.6:1
        "block-cursor-blurred-background": "#1F3347",
        "footer-key-foreground": "#FFA62B",
    },
)

AGPROXY_LIGHT = Theme(
    name=LIGHT,
    primary="#0B4F86",
    secondary="#0A5AA8",
    accent="#8F4E00",  # Textual's #FFA62B is 1.3:1 on the panel
    warning="#8F4E00",
    error="#A3213F",
    success="#1D6B34",  # #4EBF71 is 1.5:1
    foreground="#1F1F1F",
    background="#F2F2F2",
    surface="#FAFAFA",
    panel="#E3E6EA",
    dark=False,
    variables={
        "text-muted": "#4F4F4F",  # Textual's "auto 60%" is 4.9:1 on the panel: too close
        "text-disabled": "#5E5E5E",
        "text-warning": "#7A4300",
        "text-error": "#8E1B36",
        "text-success": "#1A5F2E",
        "text-accent": "#7A4300",
        "text-primary": "#0B4F86",
        "text-secondary": "#0A5AA8",
        "warning-muted": "#F6E3C8",
        "error-muted": "#F5D5DC",
        "success-muted": "#D3EBD9",
        "footer-key-foreground": "#0A5AA8",
        "block-cursor-background": "#0B4F86",
        "block-cursor-blurred-background": "#C9D7E6",
        "input-selection-background": "#0A5AA840",
    },
)

THEMES = (AGPROXY_DARK, AGPROXY_LIGHT)

# Text styled with ANSI colour names ("yellow", "red": the Log tab's levels) is drawn
# with these in the light theme; Textual's default (Alabaster) yellow is 2.4:1.
ANSI_LIGHT = TerminalTheme(
    (242, 242, 242),
    (31, 31, 31),
    [
        (0, 0, 0),
        (163, 33, 63),  # red
        (29, 107, 52),  # green
        (122, 67, 0),  # yellow
        (11, 79, 134),  # blue
        (110, 45, 140),  # magenta
        (0, 95, 120),  # cyan
        (242, 242, 242),
        (85, 85, 85),
    ],
    [
        (142, 27, 54),
        (26, 95, 46),
        (122, 67, 0),
        (10, 90, 168),
        (110, 45, 140),
        (0, 95, 120),
        (242, 242, 242),
    ],
)
