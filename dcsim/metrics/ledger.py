"""The exact energy ledger.

Every consumer of power (a GPU, a node's host, the conversion losses of the power
path, the cooling plant) holds a :class:`Meter` with a piecewise-constant power.
When the power changes, the meter first adds ``power_w * (now - t_last)`` to its
energy. The ledger keeps running totals per kind and per group (a rack) the same
way, updated by the change in power, so totals are integrated independently of the
meters: ``sum(meter energies) == total energy`` is a checkable conservation law,
not an identity.

A *spread* meter (work spanning many racks) feeds fixed shares of its power to
several groups. Changing its power costs O(1): its groups are not updated eagerly;
a group's power and energy add its spread members' shares when asked (at control
ticks), and :meth:`EnergyLedger.retire` folds a finished spread meter into them.

Kinds: ``gpu`` and ``host`` are IT power; ``conversion_loss`` and ``cooling`` are
facility overheads. The facility meter (utility input) is the total of all kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

IT_KINDS = ("gpu", "host")
KINDS = ("gpu", "host", "conversion_loss", "cooling")


class _Account:
    """A running integral of a piecewise-constant power."""

    __slots__ = ("power_w", "energy_j", "t_last_s")

    def __init__(self, t0_s: float) -> None:
        self.power_w = 0.0
        self.energy_j = 0.0
        self.t_last_s = t0_s

    def advance(self, now_s: float) -> None:
        self.energy_j += self.power_w * (now_s - self.t_last_s)
        self.t_last_s = now_s

    def energy_at_j(self, now_s: float) -> float:
        """The integral up to ``now_s`` without advancing the account."""
        return self.energy_j + self.power_w * (now_s - self.t_last_s)


class Meter(_Account):
    """The power and energy of one consumer."""

    __slots__ = ("name", "kind", "group", "_ledger", "_totals", "is_it", "notifies", "shares")

    def __init__(self, ledger: EnergyLedger, name: str, kind: str, group: str | None, t0_s: float,
                 shares: tuple[tuple[str, float], ...] = (), notifies: bool = True) -> None:
        super().__init__(t0_s)
        self.name = name
        self.kind = kind
        self.group = group
        self.shares = shares  # spread meter: (group, share of this meter's power), shares sum to 1
        self._ledger = ledger
        self.is_it = kind in IT_KINDS
        # an IT meter set by an IT listener itself (server fans following the heat) does not re-notify
        self.notifies = self.is_it and notifies
        # the running totals this meter feeds: its kind, the facility, and its group
        totals = [ledger.kind_totals[kind], ledger.facility]
        if group is not None:
            totals.append(ledger.group_totals[group])
        self._totals = tuple(totals)

    def set_power(self, power_w: float) -> None:
        """Change this consumer's power from now on."""
        self._ledger.set_powers(((self, power_w),))


class EnergyLedger:
    """All meters of a run, with per-kind, per-group and facility totals."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        t0 = clock()
        self.meters: list[Meter] = []
        self.kind_totals = {k: _Account(t0) for k in KINDS}
        self.group_totals: dict[str, _Account] = {}
        self._spread: dict[str, dict[Meter, float]] = {}  # group -> live spread meters, their share
        self.facility = _Account(t0)
        self._gpu_total, self._host_total = self.kind_totals["gpu"], self.kind_totals["host"]
        self._it_listeners: list[Callable[[float], None]] = []
        self._follower: Callable[[float], Iterable[tuple[Meter, float]]] | None = None

    def meter(self, name: str, kind: str, group: str | None = None) -> Meter:
        """A new meter at zero power. ``group`` (a rack) aggregates IT meters."""
        if kind not in KINDS:
            raise ValueError(f"meter kind must be one of {KINDS}, got {kind!r}")
        if group is not None and group not in self.group_totals:
            self.group_totals[group] = _Account(self._clock())
        m = Meter(self, name, kind, group, self._clock())
        self.meters.append(m)
        return m

    def spread_meter(self, name: str, kind: str, shares: tuple[tuple[str, float], ...],
                     notifies: bool = True) -> Meter:
        """A new meter at zero power whose power is split over groups in fixed ``shares``
        (summing to 1). Retire it (:meth:`retire`) when it will not draw power again.
        ``notifies=False``: an IT meter an IT listener sets (its changes do not call the
        listeners again)."""
        if kind not in KINDS:
            raise ValueError(f"meter kind must be one of {KINDS}, got {kind!r}")
        if not shares or abs(sum(w for _, w in shares) - 1.0) > 1e-9:
            raise ValueError(f"meter {name}: shares must be non-empty and sum to 1, got {shares}")
        now = self._clock()
        m = Meter(self, name, kind, None, now, tuple(shares), notifies)
        for g, w in shares:
            if g not in self.group_totals:
                self.group_totals[g] = _Account(now)
            self._spread.setdefault(g, {})[m] = w
        self.meters.append(m)
        return m

    def retire(self, m: Meter) -> None:
        """Set a spread meter to zero and fold its energy into its groups' totals."""
        self.set_powers(((m, 0.0),))
        m.advance(self._clock())
        for g, w in m.shares:
            self.group_totals[g].energy_j += w * m.energy_j
            del self._spread[g][m]

    def on_it_power_change(self, fn: Callable[[float], None]) -> None:
        """Call ``fn(it_power_w)`` whenever the total IT power changes."""
        self._it_listeners.append(fn)

    def follow_it_power(self, fn: Callable[[float], Iterable[tuple[Meter, float]]]) -> None:
        """Make ``fn(it_power_w)`` the one follower of IT power: called whenever the total IT
        power changes, it returns the new powers of the meters that follow it (losses, fans,
        cooling: meters that do not notify), which the same :meth:`set_powers` call applies
        at the same instant, before the IT listeners hear."""
        if self._follower is not None:
            raise ValueError("the ledger has a follower of IT power already")
        self._follower = fn

    def set_powers(self, changes) -> None:
        """Set several meters to their own powers at once: ``((meter, power_w), ...)``. Each
        meter and the totals it feeds are integrated to now before its power changes; if IT
        power changed, the follower's changes are applied next (the same way) and the IT
        listeners hear once, after all of them."""
        now = self._clock()
        follower = self._follower
        heard = False
        while True:  # (once, and once more for the follower's changes: no nested call)
            changed_it = False
            for m, power_w in changes:  # every power change of the run comes here: kept flat, no calls
                old_w = m.power_w
                if power_w == old_w:  # (a meter's power is never negative: nothing to check)
                    continue
                if power_w < 0:
                    raise ValueError(f"meter {m.name}: power must be >= 0, got {power_w}")
                delta = power_w - old_w
                m.energy_j += old_w * (now - m.t_last_s)
                m.t_last_s = now
                m.power_w = power_w
                for acc in m._totals:
                    if acc.t_last_s != now:  # (integrated to now already: it would add power x 0 s)
                        acc.energy_j += acc.power_w * (now - acc.t_last_s)
                        acc.t_last_s = now
                    acc.power_w += delta
                changed_it = changed_it or m.notifies
            if not changed_it or follower is None:
                break
            heard = True
            changes = follower(self._gpu_total.power_w + self._host_total.power_w)
            follower = None  # (its meters do not notify: it is not asked again)
        if (changed_it or heard) and self._it_listeners:
            it_w = self._gpu_total.power_w + self._host_total.power_w
            for fn in self._it_listeners:
                fn(it_w)

    def set_power_many(self, meters: list[Meter] | tuple[Meter, ...], power_w: float) -> None:
        """Set several meters to the same power at once; IT listeners hear of it once."""
        self.set_powers((m, power_w) for m in meters)

    def it_power_w(self) -> float:
        """Current total IT power."""
        return self.kind_totals["gpu"].power_w + self.kind_totals["host"].power_w

    def flush(self, now_s: float | None = None) -> None:
        """Integrate every account up to ``now_s`` (default: the clock)."""
        now = self._clock() if now_s is None else now_s
        for acc in (*self.meters, *self.kind_totals.values(), *self.group_totals.values(), self.facility):
            acc.advance(now)

    def energy_j(self, kind: str) -> float:
        """Energy of one kind, integrated up to the last flush or change."""
        return self.kind_totals[kind].energy_j

    def it_energy_j(self) -> float:
        """IT energy (GPUs and hosts) up to the last flush."""
        return self.energy_j("gpu") + self.energy_j("host")

    def energy_now_j(self, kind: str | None = None) -> float:
        """Energy of a kind (or the facility meter) integrated to the current time, without mutating."""
        acc = self.facility if kind is None else self.kind_totals[kind]
        return acc.energy_at_j(self._clock())

    def group_energy_now_j(self, group: str) -> float:
        """Energy of a group integrated to the current time, without mutating."""
        return _group_energy_at_j(self.group_totals[group], self._spread.get(group, {}), self._clock())

    def group_energies_now_j(self, groups: list[str]) -> list[float]:
        """:meth:`group_energy_now_j` of each of ``groups`` (0 for one the ledger has no meter
        in), in one call (the control tick's, every rack)."""
        now = self._clock()
        totals, spread = self.group_totals, self._spread
        return [0.0 if (acc := totals.get(g)) is None else _group_energy_at_j(acc, spread.get(g, {}), now)
                for g in groups]

    def group_power_w(self, group: str) -> float:
        """Current power of a group, its spread meters' shares included."""
        return self.group_totals[group].power_w + sum(m.power_w * w for m, w in self._spread.get(group, {}).items())


def _group_energy_at_j(acc: _Account, spread: dict[Meter, float], now: float) -> float:
    """A group's energy to ``now`` without advancing it: its total's integral plus each spread
    meter's share of its own (``energy_at_j`` written out: the control tick asks for every rack)."""
    e = acc.energy_j + acc.power_w * (now - acc.t_last_s)
    for m, w in spread.items():
        e += w * (m.energy_j + m.power_w * (now - m.t_last_s))
    return e
