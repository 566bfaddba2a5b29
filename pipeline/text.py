"""Text from outside (station ids and names, API bodies, quarantined payloads) is data.

It must never reach a terminal, a log line or a mail header able to act: an ESC starts a
terminal control sequence (OSC 0 sets the window title, OSC 52 writes the clipboard, CSI moves
the cursor and can paint fake rows), CR/LF split a header or a row, and the Unicode bidi
controls reorder what is shown. :func:`printable` turns each such character into a visible
escape (``\\x1b``, ``\\u202e``), so the text stays readable and nothing is lost; it is the one
place that decides what counts as a control character.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, the soft hyphen and other invisible format characters (which make
# look-alike ids), line/paragraph separators, zero-width and bidi formatting characters.
_CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def has_control(text: str) -> bool:
    """Whether ``text`` holds a character :func:`printable` would escape."""
    return _CONTROL.search(text) is not None


def printable(text: str, limit: int | None = None) -> str:
    """``text`` with every control character escaped, cut to ``limit`` characters (with
    ``…``) when given."""
    if _CONTROL.search(text) is not None:
        text = _CONTROL.sub(_escape, text)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def escaped_json(encoded: str) -> str:
    """JSON text (or a TOML basic string) with every control character :func:`printable`
    escapes written as a ``\\uXXXX`` escape: the same data to a parser, inert on a terminal.
    JSON encoders escape C0 controls, quotes and backslashes but leave DEL, C1 (``\\x9b`` is
    a CSI), bidi and line separators raw; outside strings JSON holds none of them."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", encoded)
