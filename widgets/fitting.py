"""Text that has shorter forms: the longest that fits is shown, so a narrow terminal (80
columns) gets a shorter wording rather than one cut off mid-word."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from rich.cells import cell_len
from rich.text import Text

Form = TypeVar("Form", str, Text)


def fitting(forms: Sequence[Form], width: int | None) -> Form:
    """The first of ``forms`` (longest first) at most ``width`` cells wide, the last if none
    is; the first when there is no width yet (before the first layout)."""
    if width is None:
        return forms[0]
    return next((f for f in forms if _cells(f) <= width), forms[-1])


def _cells(form: str | Text) -> int:
    return form.cell_len if isinstance(form, Text) else cell_len(form)
