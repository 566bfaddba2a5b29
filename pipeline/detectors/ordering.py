"""Ordering a batch into rounds that can each be updated in one vectorised step.

The detectors are recursions in time, so a series' readings must be taken one after another;
different stations are independent. Sorting the batch by (station, time) and numbering each
reading within its station gives rounds: round ``r`` holds every station's ``r``-th reading, so
no series appears twice in a round and the whole round is one vectorised update. A batch of
5,000 readings from 100 stations is about 50 rounds instead of 5,000 Python iterations.

Stations are then ranked by how many readings they have, most first, and each round lists its
readings in that rank order: the stations of round ``r`` are always the first ``m_r`` ranked
ones, so the bank can work on contiguous prefixes of its state (see
:mod:`~pipeline.detectors.layout`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)
class RoundPlan:
    """The readings of a batch that will be taken, in two useful orders.

    ``by_station`` lists the kept rows of the frame in (station, time) order, with ``starts``
    the position of each station's first row there. ``ranked`` lists the batch's stations,
    most readings first. ``to_rounds`` permutes the (station, time) order into round order,
    where round ``r`` is ``bounds[r]:bounds[r + 1]`` and its ``i``-th reading belongs to
    ``ranked[i]``.
    """

    by_station: np.ndarray
    starts: np.ndarray
    ranked: np.ndarray
    to_rounds: np.ndarray
    bounds: np.ndarray


def plan_rounds(station: np.ndarray, observed_at: np.ndarray, last_seen: np.ndarray) -> RoundPlan:
    """Plan a batch. Rows not later than their station's previous reading (in this batch or
    ``last_seen``, per station) are left out: the consumer de-duplicates before the detectors,
    so this only guards against a caller that does not."""
    order = np.lexsort((observed_at, station))
    stations, times = station[order], observed_at[order]
    previous = last_seen[stations]
    same = np.zeros(len(order), dtype=bool)
    np.equal(stations[1:], stations[:-1], out=same[1:])
    previous[1:] = np.where(same[1:], np.maximum(times[:-1], previous[1:]), previous[1:])
    keep = times > previous
    order, stations = order[keep], stations[keep]

    n = len(order)
    new_station = np.ones(n, dtype=bool)
    np.not_equal(stations[1:], stations[:-1], out=new_station[1:])
    starts = np.flatnonzero(new_station)
    counts = np.diff(np.append(starts, n))
    block = np.repeat(np.arange(len(starts)), counts)
    rank = np.arange(n) - starts[block]
    by_count = np.argsort(-counts, kind="stable")
    place = np.empty_like(by_count)
    place[by_count] = np.arange(len(by_count))
    to_rounds = np.lexsort((place[block], rank))
    bounds = np.zeros(int(rank.max(initial=-1)) + 2, dtype=np.intp)
    np.cumsum(np.bincount(rank), out=bounds[1:])
    return RoundPlan(order, starts, stations[starts][by_count], to_rounds, bounds)
