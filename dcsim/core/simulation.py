"""The simulation: one SimPy environment, the run's RNG streams and its recorder."""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any, Protocol

import simpy
from simpy.core import StopSimulation
from simpy.events import NORMAL, URGENT, EventPriority

from dcsim.core.rng import RngStreams
from dcsim.core.runinfo import RunInfo


class Collector(Protocol):
    """What a simulation needs of its recorder (implemented by ``dcsim.metrics.Recorder``).

    Components hold the recorder through this protocol (the core layer cannot import
    ``dcsim.metrics``), so it names every member they use.
    """

    ledger: Any
    run_info: RunInfo

    def monitor(self, name: str, initial: float = 0.0) -> Any:
        """A step-function monitor of one named level (power, queue length, ...)."""

    def record(self, table: str, row: tuple) -> None:
        """Append one row to a named output table."""

    def event(self, record_type: str, component: str, detail: str = "", value: float = float("nan")) -> None:
        """Log one discrete event (fault, preemption, scale-out, ...)."""

    def results(self, until_s: float) -> Any:
        """Close every open account at ``until_s`` and return the run's results."""


class _Call:
    """A bare scheduled callback (see :meth:`CountingEnvironment.call_later`): what SimPy's
    loop reads of an event, nothing more."""

    __slots__ = ("callbacks",)
    _ok = True
    _value = None

    def __init__(self, fn: Callable[[Any], None]) -> None:
        self.callbacks: list[Callable[[Any], None]] | None = [fn]


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes (for tests and benchmarks).

    ``run(until=<time>)`` is SimPy's loop with :meth:`step` inlined (the same order, the
    same stop at ``until``), which saves two calls an event on the request-level hot path.
    """

    def __init__(self, initial_time: float = 0.0) -> None:
        super().__init__(initial_time)
        self.events_processed = 0

    def call_later(self, delay_s: float, fn: Callable[[Any], None]) -> None:
        """Call ``fn(event)`` after ``delay_s`` (>= 0): a timeout without its event object,
        in the same place of the queue as ``env.timeout(delay_s)`` created now."""
        heappush(self._queue, (self._now + delay_s, NORMAL, next(self._eid), _Call(fn)))  # type: ignore[misc]

    def step(self) -> None:
        self.events_processed += 1
        super().step()

    def run(self, until: Any = None) -> Any:
        if until is None or isinstance(until, simpy.Event):
            return super().run(until)
        at = until if isinstance(until, int) else float(until)
        if at <= self._now:
            raise ValueError(f"until ({at}) must be greater than the current simulation time")
        stop = simpy.Event(self)
        stop._ok = True
        stop._value = None
        self.schedule(stop, URGENT, at - self._now)
        stop.callbacks.append(StopSimulation.callback)
        queue: list[Any] = self._queue
        try:
            while True:
                self.events_processed += 1
                try:
                    self._now, _, _, event = heappop(queue)
                except IndexError:
                    raise RuntimeError(f'No scheduled events left but "until" event was not triggered: {stop}') \
                        from None
                callbacks, event.callbacks = event.callbacks, None
                try:
                    for callback in callbacks:
                        callback(event)
                except StopSimulation:
                    event.callbacks = callbacks[callbacks.index(callback) + 1:]
                    self.schedule(event, EventPriority(-1))
                    raise
                if not event._ok and not hasattr(event, "_defused"):
                    exc = type(event._value)(*event._value.args)
                    exc.__cause__ = event._value
                    raise exc
        except StopSimulation as exc:
            return exc.args[0]


class Simulation:
    """One run: the clock, named random streams and the recorder.

    Components receive the simulation and take what they need: ``sim.env`` to create
    processes and timeouts, ``sim.rng.stream(name)`` for randomness, ``sim.recorder``
    to report. ``run(until_s)`` advances the clock and returns the recorder's results.
    """

    def __init__(self, seed: int, recorder_factory: Callable[[Simulation], Collector]) -> None:
        self.env = CountingEnvironment()
        self.rng = RngStreams(seed)
        self.recorder = recorder_factory(self)
        self._finalisers: list[Callable[[float], None]] = []
        self._ran = False

    @property
    def now_s(self) -> float:
        """Current simulated time in seconds."""
        return float(self.env._now)  # SimPy's ``now`` property without the call

    def observe(self, step_s: float, fn: Callable[[float], None]) -> None:
        """Call ``fn(now_s)`` every ``step_s`` simulated seconds (a progress bar, a progress
        file). An observer only reads: its events are left out of ``events_processed``, so
        a run with one reports exactly what it reports without."""
        env = self.env

        def watch():
            env.events_processed -= 1  # the process's own start
            while True:
                yield env.timeout(step_s)
                env.events_processed -= 1  # this wake-up
                fn(env.now)

        env.process(watch())

    def on_finish(self, fn: Callable[[float], None]) -> None:
        """Call ``fn(until_s)`` when the run ends, before results are collected."""
        self._finalisers.append(fn)

    def run(self, until_s: float) -> Any:
        """Run until ``until_s`` seconds and return the results. A simulation runs once."""
        if self._ran:
            raise RuntimeError("a Simulation runs once; build a new one for another run")
        if until_s <= 0:
            raise ValueError(f"until_s must be > 0, got {until_s}")
        self._ran = True
        self.env.run(until=until_s)
        for fn in self._finalisers:
            fn(until_s)
        return self.recorder.results(until_s)
