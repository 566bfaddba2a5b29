"""Counter-based randomness: every draw is a pure function of its coordinates.

A sequential generator makes sample ``k`` depend on how many samples were drawn before it, so
a day generated in one call and in ten calls would differ. Hashing the coordinates (seed,
station, variable, step) instead gives each sample its own draw, whatever the chunking. The
mixer is SplitMix64 (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number
generators"), which passes BigCrush and vectorises in plain numpy ``uint64`` arithmetic.
"""

from __future__ import annotations

import hashlib

import numpy as np

MASK64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)
_LOW32 = np.uint64(0xFFFFFFFF)
_TWO_POW_32 = 4294967296.0

Key = int | np.ndarray


def name_key(name: str) -> int:
    """A stable 64-bit key for a name; Python's ``hash`` of a str is salted per process."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def _splitmix64(x: np.ndarray) -> np.ndarray:
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MUL1
    z = (z ^ (z >> np.uint64(27))) * _MUL2
    return z ^ (z >> np.uint64(31))


def mix(*keys: Key) -> np.ndarray:
    """Hash keys (Python ints or integer arrays, broadcast together) into ``uint64`` bits."""
    bits = np.zeros(1, np.uint64)
    with np.errstate(over="ignore"):
        for key in keys:
            word: np.uint64 | np.ndarray
            if isinstance(key, int):
                word = np.uint64(key & MASK64)
            else:
                word = np.asarray(key).astype(np.uint64)
            bits = _splitmix64(bits ^ word)
    return bits


def uniform(bits: np.ndarray) -> np.ndarray:
    """Bits to floats uniform in the open interval (0, 1) (53-bit resolution)."""
    return ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def normal(bits: np.ndarray) -> np.ndarray:
    """Bits to standard normal draws by Box-Muller (Box & Muller 1958), one per 64-bit word.

    Each 32-bit half gives one uniform: 2**32 levels are far finer than any sensor noise.
    """
    u1 = ((bits >> np.uint64(32)).astype(np.float64) + 0.5) / _TWO_POW_32
    u2 = ((bits & _LOW32).astype(np.float64) + 0.5) / _TWO_POW_32
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
