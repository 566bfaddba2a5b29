"""Events drawn per station and day, and the rule that keeps them from colliding.

Each (station, day) has its own generator, ``default_rng([seed, station key, day, stream])``,
so the events of any span of time are found by drawing the days it touches (and the days
before, for events still running at its start) without replaying anything earlier: the
schedule is the same however the data is chunked.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

import numpy as np

from pipeline.simulation.hashing import MASK64

_CACHED_DAYS = 128

E = TypeVar("E")


def keep_first_of_overlaps(
    items: Iterable[E],
    start: Callable[[E], float],
    reach: Callable[[E], float],
    group: Callable[[E], Hashable],
) -> list[E]:
    """Drop each item that an earlier-starting item of its group still reaches.

    Earlier items count whether or not they were kept, so an item's fate depends only on the
    items that began at most one longest duration before it, not on a chain back to the
    beginning of time.
    """
    reached: dict[Hashable, float] = {}
    kept = []
    for item in sorted(items, key=start):
        key = group(item)
        if start(item) > reached.get(key, -math.inf):
            kept.append(item)
        reached[key] = max(reached.get(key, -math.inf), reach(item))
    return kept


class DailySchedule(ABC, Generic[E]):
    """Events drawn per station and day, and the verdict on which of them happen.

    Both are memoised per day: a live run moves through a day in many small chunks.
    """

    def __init__(self, seed: int, keys: np.ndarray, stream: int, lookback_days: int) -> None:
        self._seed = seed
        self._keys = [int(key) for key in keys]
        self._stream = stream
        self._lookback_days = lookback_days
        self._cache: dict[tuple[str, int], list[tuple[E, ...]]] = {}

    @abstractmethod
    def _draw(self, rng: np.random.Generator, station: int, day: int) -> tuple[E, ...]:
        """The events of one station and day, from that pair's own generator."""

    @abstractmethod
    def _start(self, event: E) -> float:
        """When the event begins (in whatever unit its schedule counts time)."""

    @abstractmethod
    def _reach(self, event: E) -> float:
        """Until when the event blocks later ones of its group."""

    @abstractmethod
    def _group(self, event: E) -> Hashable:
        """Events of one group must not overlap; events of different groups may."""

    def kept_on(self, day: int) -> list[tuple[E, ...]]:
        """Per station, the events drawn on ``day`` that no earlier-starting one overlaps."""
        return self._remember(("kept", day), lambda: self._decide(day))

    def _drawn_on(self, day: int) -> list[tuple[E, ...]]:
        def draw() -> list[tuple[E, ...]]:
            return [
                self._draw(
                    np.random.default_rng([self._seed, key, day & MASK64, self._stream]),
                    station,
                    day,
                )
                for station, key in enumerate(self._keys)
            ]

        return self._remember(("drawn", day), draw)

    def _decide(self, day: int) -> list[tuple[E, ...]]:
        days = [self._drawn_on(d) for d in range(day - self._lookback_days, day + 1)]
        decided = []
        for station, today in enumerate(days[-1]):
            candidates = (event for drawn in days for event in drawn[station])
            kept = keep_first_of_overlaps(candidates, self._start, self._reach, self._group)
            decided.append(tuple(event for event in kept if event in today))
        return decided

    def _remember(
        self, key: tuple[str, int], compute: Callable[[], list[tuple[E, ...]]]
    ) -> list[tuple[E, ...]]:
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= _CACHED_DAYS:
                self._cache.clear()
            found = self._cache[key] = compute()
        return found
