"""Named random-number streams spawned from one run seed.

Every stochastic component draws from its own stream, keyed by a stable name
(``"arrivals/chat"``, ``"lengths/chat"``, ...). A stream's key depends only on the
run seed and its name, so adding or removing a component never shifts the draws
of another. There is no global RNG anywhere in dcsim.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _name_key(name: str) -> int:
    """A stable 64-bit integer for ``name`` (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


class RngStreams:
    """Lazily created, independent ``numpy.random.Generator`` streams, one per name."""

    def __init__(self, seed: int) -> None:
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.seed = int(seed)
        self._streams: dict[str, np.random.Generator] = {}

    def stream(self, name: str) -> np.random.Generator:
        """The generator for ``name``, created on first use."""
        gen = self._streams.get(name)
        if gen is None:
            seq = np.random.SeedSequence(self.seed, spawn_key=(_name_key(name),))
            gen = np.random.Generator(np.random.PCG64(seq))
            self._streams[name] = gen
        return gen

    def names(self) -> list[str]:
        """Names of the streams drawn from so far, sorted."""
        return sorted(self._streams)
