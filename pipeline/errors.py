"""The base of the errors mass-tui expects and reports, rather than crashes on.

A :class:`MassError` is a failure of the world, not of the code: a setting that is invalid, a
store that cannot be written, a broker that does not answer, a file whose header lacks a
column. Its message is one line saying what and where. The pipeline raises the specific
subclass; the edge (the App, the CLI) catches it and shows the line, then goes on or exits
with status 2. Catching the base lets the CLI's top level promise that none of these ends in a
traceback (as harlequin's ``HarlequinError`` does, ``src/harlequin/exception.py``).

A subclass that callers also catch as a built-in kind keeps that base too
(``class BodyError(MassError, ValueError)``). Signals that are not failures (the bus closed
under a waiting caller) are not ``MassError``.
"""

from __future__ import annotations

from typing import ClassVar


class MassError(Exception):
    """An expected failure, reported in one line (the message) at the edge of the program."""

    kind: ClassVar[str] = ""
    """What the command line says before the message (``storage error``), if anything: the
    message names the file or setting, the kind the part of the program that failed."""
