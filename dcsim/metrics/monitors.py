"""Time-weighted level monitors.

A level (GPUs busy, watts, queue length) must be averaged over time, not over the
samples taken of it: a level that is 100 for one second and 0 for 99 has mean 1.
"""

from __future__ import annotations

from collections.abc import Callable


class LevelMonitor:
    """Time-weighted statistics of a piecewise-constant level."""

    __slots__ = ("name", "_clock", "level", "_t_last_s", "_t0_s", "_integral", "maximum")

    def __init__(self, name: str, clock: Callable[[], float], initial: float = 0.0) -> None:
        self.name = name
        self._clock = clock
        self.level = float(initial)
        self._t0_s = self._t_last_s = clock()
        self._integral = 0.0
        self.maximum = self.level

    def set(self, level: float) -> None:
        """The level from now on."""
        now = self._clock()
        self._integral += self.level * (now - self._t_last_s)
        self._t_last_s = now
        self.level = float(level)
        if self.level > self.maximum:
            self.maximum = self.level

    def add(self, delta: float) -> None:
        """Change the level by ``delta`` from now on."""
        self.set(self.level + delta)

    def integral(self, until_s: float | None = None) -> float:
        """Integral of the level from the start to ``until_s`` (default: now)."""
        t = self._clock() if until_s is None else until_s
        return self._integral + self.level * (t - self._t_last_s)

    def mean(self, until_s: float | None = None) -> float:
        """Time-weighted mean from the start to ``until_s`` (default: now)."""
        t = self._clock() if until_s is None else until_s
        span = t - self._t0_s
        return self.integral(t) / span if span > 0 else self.level
