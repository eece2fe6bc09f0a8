"""The design system's colours (static/css/app.css) pass WCAG AA: 4.5:1 for text, 3:1 for
large text and the edges of controls, in light and in dark. Read from the CSS itself, so a
changed token is measured, not a copy of it."""

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "static" / "css" / "app.css").read_text()

# (text or edge, background, minimum ratio)
PAIRS = [
    ("--fg", "--bg", 4.5),
    ("--fg", "--surface", 4.5),
    ("--fg", "--surface-2", 4.5),
    ("--fg", "--surface-3", 4.5),
    ("--fg", "--raised", 4.5),
    ("--fg", "--mine", 4.5),
    ("--fg-muted", "--bg", 4.5),
    ("--fg-muted", "--surface", 4.5),
    ("--fg-muted", "--surface-2", 4.5),
    ("--fg-muted", "--raised", 4.5),
    ("--accent", "--bg", 4.5),
    ("--accent", "--surface", 4.5),
    ("--accent", "--raised", 4.5),
    ("--accent-fg", "--accent", 4.5),
    ("--accent-fg", "--accent-hover", 4.5),
    ("--accent-soft-fg", "--accent-soft", 4.5),
    ("--danger", "--bg", 4.5),
    ("--danger", "--raised", 4.5),
    ("--danger", "--danger-soft", 4.5),
    ("--danger-fg", "--danger", 4.5),
    ("--success", "--success-soft", 4.5),
    ("--warning-fg", "--warning-soft", 4.5),
    ("--fg", "--mark", 4.5),
    ("--bg", "--fg", 4.5),  # toasts: the page's colours reversed
    ("--border-strong", "--raised", 3.0),  # the edges of inputs and buttons (WCAG 1.4.11)
    ("--border-strong", "--bg", 3.0),
    ("--focus", "--bg", 3.0),
]


def tokens(selector: str) -> dict[str, str]:
    block = re.search(re.escape(selector) + r"\s*\{(.*?)\}", CSS, re.S).group(1)
    return dict(re.findall(r"(--[a-z0-9-]+):\s*(#[0-9a-fA-F]{6})\s*;", block))


def luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


LIGHT = tokens(":root")
DARK = tokens(':root[data-theme="dark"]')
SYSTEM_DARK = tokens(':root:not([data-theme="light"])')


def test_dark_is_the_same_for_the_cookie_and_for_the_system():
    assert DARK == SYSTEM_DARK


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize(("text", "background", "minimum"), PAIRS)
def test_the_pair_passes_wcag_aa(theme, text, background, minimum):
    colours = LIGHT if theme == "light" else DARK
    ratio = contrast(colours[text], colours[background])
    assert ratio >= minimum, f"{theme}: {text} on {background} is {ratio:.2f}:1"
