"""The console's themes: a dark default, a light one, and a high-contrast one for glare,
projectors and low vision. ``t`` cycles through them in this order."""

from __future__ import annotations

from pathlib import Path

from textual.theme import Theme

CONSOLE_CSS = Path(__file__).with_name("console.tcss")

MASS_DARK = Theme(
    name="mass-dark",
    primary="#4FA3E0",
    secondary="#7FB77E",
    accent="#F2B134",
    warning="#F2B134",
    error="#E5484D",
    success="#46A758",
    foreground="#D8DEE9",
    background="#0F141A",
    surface="#161D26",
    panel="#1E2833",
    dark=True,
)

MASS_LIGHT = Theme(
    name="mass-light",
    primary="#0B62A4",
    secondary="#3B7A3A",
    accent="#B35C00",
    warning="#B35C00",
    error="#C21F30",
    success="#2E7D32",
    foreground="#1B1F24",
    background="#F5F7FA",
    surface="#FFFFFF",
    panel="#E4E9F0",
    dark=False,
)

MASS_HIGH_CONTRAST = Theme(
    name="mass-high-contrast",
    primary="#FFFF00",
    secondary="#00FFFF",
    accent="#FF00FF",
    warning="#FFFF00",
    error="#FF3333",
    success="#00FF00",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#5A5A5A",
    dark=True,
    luminosity_spread=0.0,
)

THEMES: tuple[Theme, ...] = (MASS_DARK, MASS_LIGHT, MASS_HIGH_CONTRAST)
THEME_NAMES: tuple[str, ...] = tuple(theme.name for theme in THEMES)
