"""Tell a role's state on stderr when it changes (``produce``, ``worker``)."""

from __future__ import annotations

import re
import sys

_SECONDS = re.compile(r"\d+ s\b")


class StateTeller:
    """Prints ``<prefix>: <state>`` when the state changes; "unreachable for 8 s" and "... 9 s"
    are the same state, so an outage is one line, not one a second."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._told: str | None = None

    def __call__(self, state: str) -> None:
        steady = _SECONDS.sub("", state)
        if steady != self._told:
            self._told = steady
            print(f"{self.prefix}: {state}", file=sys.stderr, flush=True)


_FIGURES = re.compile(r"\d[\d,.]*")


class ProblemTeller:
    """Prints the pipeline's problems on stderr when they change, and once when they are gone:
    the same problem with other figures ("12 waiting", "13 waiting") is not news."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._told = ""

    def __call__(self, problems: list[str]) -> None:
        steady = _FIGURES.sub("#", "; ".join(problems))
        if steady == self._told:
            return
        self._told = steady
        text = "; ".join(problems) if problems else "ok again"
        print(f"{self.prefix}: {text}", file=sys.stderr, flush=True)
