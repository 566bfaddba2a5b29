"""Would numba pay for itself? The detectors' recurrences, as numpy rounds and as a compiled loop.

Run in an environment with numba (not a dependency of mass-tui):
``python -m venv /tmp/nb && /tmp/nb/bin/pip install numba numpy &&
/tmp/nb/bin/python bench/numba_probe.py``.

The statistics every station's series goes through, a reading at a time: an EWMA and its
variance, a two-sided CUSUM on the EWMA residual, and a rolling 60-reading window's mean and
standard deviation (a ring). Done two ways on the same readings:

- numpy rounds, as ``pipeline.detectors.bank`` does: a batch sorted by station, round ``r``
  updating every station's ``r``-th reading at once (a few dozen numpy calls a round);
- a numba ``@njit`` loop over the rows, station by station.

Printed: both rates for three batch shapes (many stations with few readings each, as a broker
partition mixes them; few stations with many, as one partition gives them), that the results
agree, and numba's costs: the first call's compile time, and a fresh process's import and
cached-load time (``cache=True``).

This is not the whole detector bank (no calibration, gating, quality control or rules); it
measures the part a compiled kernel would replace first.
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

WINDOW = 60
ALPHA = 0.1
SLACK, LIMIT = 0.5, 5.0


def rounds(station: np.ndarray, values: np.ndarray, n_stations: int) -> np.ndarray:
    """numpy: round r takes each station's r-th reading; returns the CUSUM high side."""
    n, v = values.shape
    starts = np.searchsorted(station, np.arange(n_stations))
    counts = np.diff(np.append(starts, n))
    rank = np.arange(n) - starts[station]
    mean = np.zeros((n_stations, v))
    var = np.ones((n_stations, v))
    high = np.zeros((n_stations, v))
    ring = np.full((n_stations, WINDOW, v), np.nan)
    out = np.empty((n, v))
    for r in range(int(counts.max())):
        rows = np.flatnonzero(rank == r)
        s = station[rows]
        x = values[rows]
        slot = r % WINDOW
        ring[s, slot] = x
        window = ring[s]
        w_mean = np.nanmean(window, axis=1)
        w_std = np.nanstd(window, axis=1)
        z = (x - w_mean) / np.where(w_std > 0, w_std, 1.0)
        residual = x - mean[s]
        mean[s] += ALPHA * residual
        var[s] = (1 - ALPHA) * (var[s] + ALPHA * residual**2)
        standard = residual / np.sqrt(var[s])
        high[s] = np.maximum(0.0, high[s] + standard - SLACK)
        high[s] = np.where(high[s] > LIMIT, 0.0, high[s])
        out[rows] = high[s] + 0.0 * z
    return out


def numba_kernel():
    from numba import njit

    @njit(cache=True)
    def loop(station, values, n_stations):  # pragma: no cover - compiled
        n, v = values.shape
        mean = np.zeros((n_stations, v))
        var = np.ones((n_stations, v))
        high = np.zeros((n_stations, v))
        ring = np.full((n_stations, WINDOW, v), np.nan)
        seen = np.zeros(n_stations, dtype=np.int64)
        out = np.empty((n, v))
        for i in range(n):
            s = station[i]
            slot = seen[s] % WINDOW
            seen[s] += 1
            for c in range(v):
                x = values[i, c]
                ring[s, slot, c] = x
                total, count = 0.0, 0
                for k in range(WINDOW):
                    y = ring[s, k, c]
                    if y == y:
                        total += y
                        count += 1
                w_mean = total / count
                spread = 0.0
                for k in range(WINDOW):
                    y = ring[s, k, c]
                    if y == y:
                        spread += (y - w_mean) ** 2
                w_std = (spread / count) ** 0.5
                z = (x - w_mean) / (w_std if w_std > 0 else 1.0)
                residual = x - mean[s, c]
                mean[s, c] += ALPHA * residual
                var[s, c] = (1 - ALPHA) * (var[s, c] + ALPHA * residual**2)
                standard = residual / var[s, c] ** 0.5
                h = max(0.0, high[s, c] + standard - SLACK)
                high[s, c] = 0.0 if h > LIMIT else h
                out[i, c] = high[s, c] + 0.0 * z
        return out

    return loop


def batch(n_stations: int, per_station: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    station = np.repeat(np.arange(n_stations), per_station)
    values = rng.normal(size=(station.shape[0], 8)).cumsum(axis=0) * 0.1
    return station, values


def rate(function, station, values, n_stations, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        function(station, values, n_stations)
        best = min(best, time.perf_counter() - began)
    return station.shape[0] / best


def main() -> int:
    began = time.perf_counter()
    loop = numba_kernel()
    station, values = batch(10, 20)
    loop(station, values, 10)
    first_call = time.perf_counter() - began
    fresh = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time; t = time.perf_counter(); import numpy as np, sys; "
            f"sys.path.insert(0, {str(__file__.rsplit('/', 1)[0])!r}); import numba_probe as p; "
            "f = p.numba_kernel(); s, v = p.batch(10, 20); f(s, v, 10); "
            "print(time.perf_counter() - t)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    print(f"numba: first call (compile, or load from cache) {first_call:.2f} s;")
    print(f"  a fresh process, import and cached load: {float(fresh.stdout):.2f} s")
    print(f"{'batch':34} {'numpy rounds':>14} {'numba loop':>12} {'ratio':>6}")
    for n_stations, per_station, label in (
        (10_000, 2, "10,000 stations x 2 readings"),
        (100, 200, "100 stations x 200 readings"),
        (17, 600, "17 stations x 600 (a partition)"),
    ):
        station, values = batch(n_stations, per_station)
        assert np.allclose(
            rounds(station, values, n_stations), loop(station, values, n_stations), equal_nan=True
        )
        numpy_rate = rate(rounds, station, values, n_stations)
        numba_rate = rate(loop, station, values, n_stations)
        print(
            f"{label:34} {numpy_rate:>10,.0f} /s {numba_rate:>10,.0f} /s"
            f" {numba_rate / numpy_rate:>6.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
