"""Power delivery: utility -> transformer -> UPS -> PDU/busway -> rack power supplies.

Each conversion stage loses power as a function of its load, in the standard
three-term form (no-load, proportional and square-law losses; Schneider Electric
White Papers 108 and 113):

    loss_w = rated_w * (no_load + proportional * x + square * x**2),  x = output_w / rated_w

for one unit of rating ``rated_w``. A stage has ``units`` identical units sharing its
load equally, and a redundancy scheme that says how many of them the design may rely
on ("N": all, "N+k": all but k, "2N": half). Redundant units are energised, so they
add their no-load loss and lower the load each unit carries: a 2N UPS runs at most at
50 % of its rating, where its efficiency is that of half load.

The input of a stage is its output plus its loss; stages chain from the racks up to
the utility meter. ``DEFAULT_STAGES`` holds cited loss curves for each stage (see
docs/power.md for the sources and the efficiency each gives at 25/50/100 % load).
Faults (docs/power.md, "Faults") take units out of service
(``PowerPath.with_failed_units``) or feed the path from the UPS down (``PowerPath.fed_at``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


def usable_units(redundancy: str, units: int) -> int:
    """How many of ``units`` the design may load under ``redundancy`` ("N", "N+k", "2N")."""
    r = redundancy.replace(" ", "").upper()
    if units < 1:
        raise ValueError(f"a stage needs at least one unit, got {units}")
    if r == "N":
        return units
    if r == "2N":
        if units % 2:
            raise ValueError(f"2N redundancy needs an even number of units, got {units}")
        return units // 2
    if r.startswith("N+") and r[2:].isdigit():
        spare = int(r[2:])
        if units <= spare:
            raise ValueError(f"{redundancy} redundancy needs more than {spare} units, got {units}")
        return units - spare
    raise ValueError(f"redundancy must be 'N', 'N+k' or '2N', got {redundancy!r}")


@dataclass(frozen=True, slots=True)
class ConversionStage:
    """One stage of the power path: ``units`` identical units of ``rated_w`` each.

    The loss coefficients are per unit, as fractions of ``rated_w``. With the
    defaults (one unit, "N") this is a single converter, as before redundancy existed.
    """

    name: str
    rated_w: float  # rating of one unit
    no_load: float
    proportional: float
    square: float
    units: int = 1
    redundancy: str = "N"

    def __post_init__(self) -> None:
        if not self.rated_w > 0:
            raise ValueError(f"stage {self.name!r}: rated_w must be > 0, got {self.rated_w}")
        usable_units(self.redundancy, self.units)  # validates

    @property
    def usable_units(self) -> int:
        """Units the design may load (the rest are redundancy)."""
        return usable_units(self.redundancy, self.units)

    @property
    def usable_w(self) -> float:
        """Output this stage may carry without losing its redundancy."""
        return self.usable_units * self.rated_w

    @property
    def installed_w(self) -> float:
        """Output all units together could carry (redundancy spent)."""
        return self.units * self.rated_w

    def unit_load_fraction(self, output_w: float) -> float:
        """Load of each unit as a fraction of its rating; all units share equally."""
        return output_w / self.installed_w

    def loss_w(self, output_w: float) -> float:
        """Power lost in this stage (all its units) while it delivers ``output_w``."""
        x = self.unit_load_fraction(output_w)
        return self.units * self.rated_w * (self.no_load + self.proportional * x + self.square * x * x)

    def efficiency(self, output_w: float) -> float:
        """Output over input at ``output_w``."""
        return output_w / (output_w + self.loss_w(output_w)) if output_w > 0 else 0.0


@dataclass(frozen=True, slots=True)
class StageSpec:
    """A stage as configured: loss curve per unit, redundancy, unit count and rating.

    ``unit_rating_w=None`` sizes the units so that the stage's usable capacity is
    exactly what it must carry when the IT load is the path's IT capacity (see
    :meth:`PowerPath.build`).
    """

    name: str
    no_load: float
    proportional: float
    square: float
    redundancy: str = "N"
    units: int = 1
    unit_rating_w: float | None = None


@dataclass(frozen=True, slots=True)
class RackConversion:
    """A rack feed technology's conversion in place of the servers' own AC power supplies.

    dcsim's IT power is wall-plug power: what a server with its AC power supplies
    (``server_psu``, its units and load sharing) draws at its inlet. A feed that replaces
    those supplies (a rack power shelf feeding a 48 V busbar) takes the same DC power
    the supplies delivered, ``dc_w(it_w)``, and draws ``input_w(it_w)`` from the stage
    above through its own ``stages`` (rack input first). The IT power stays as measured;
    the difference ``input_w(it_w) - it_w`` is the feed's loss less the supplies' loss
    it replaces, counted with the conversion losses (it is negative when the feed is the
    better converter). See docs/power.md, "Rack feed technologies".
    """

    server_psu: ConversionStage
    stages: tuple[ConversionStage, ...]

    def dc_w(self, it_w: float) -> float:
        """DC output of the servers' AC supplies whose input is ``it_w``: the root of
        dc + R (a + b dc/R + c (dc/R)^2) = it_w, R the supplies' installed rating (>= 0)."""
        psu = self.server_psu
        r = psu.installed_w
        excess = it_w - r * psu.no_load
        if excess <= 0.0:
            return 0.0
        one_b = 1.0 + psu.proportional
        # the stable form of the quadratic's positive root; also right for square = 0
        return 2.0 * excess / (one_b + math.sqrt(one_b * one_b + 4.0 * psu.square / r * excess))

    def input_w(self, it_w: float) -> float:
        """Power the rack feed draws from the stage above while the IT load is ``it_w``."""
        p = self.dc_w(it_w)
        for stage in reversed(self.stages):
            p += stage.loss_w(p)
        return p

    def outputs_w(self, it_w: float) -> list[tuple[ConversionStage, float]]:
        """(stage, its output) for the feed's stages, the stage nearest the servers first."""
        out, p = [], self.dc_w(it_w)
        for stage in reversed(self.stages):
            out.append((stage, p))
            p += stage.loss_w(p)
        return out


@dataclass(frozen=True)
class PowerPath:
    """Stages in order from the utility to the racks, and the rack feed's conversion if it
    replaces the servers' AC supplies (None: the servers' supplies, inside the IT power)."""

    stages: tuple[ConversionStage, ...]
    rack: RackConversion | None = None
    reaches_racks: bool = True  # False: a stage lost every unit; these are the stages above it (no IT load)
    # (installed W, no-load, proportional, square) of each stage, the stage nearest the racks first
    _terms: tuple[tuple[float, float, float, float], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_terms", tuple((s.units * s.rated_w, s.no_load, s.proportional, s.square)
                                                 for s in reversed(self.stages)))

    @classmethod
    def build(cls, it_capacity_w: float, stages: Sequence[StageSpec], rack_stages: Sequence[StageSpec] = (),
              rack_capacity_w: float | None = None) -> PowerPath:
        """A path able to deliver ``it_capacity_w`` at its output with every redundancy intact.

        ``stages`` run from the utility to the racks. Units without a rating are sized
        from the racks upwards: a stage's usable capacity equals its output at full IT
        capacity, which is the IT capacity plus the losses of the stages below it.

        ``rack_stages`` (rack input first), if any, replace the servers' AC supplies
        (``SERVER_PSU``, see :class:`RackConversion`); they and the supplies they replace
        are sized like the others for ``rack_capacity_w`` (default ``it_capacity_w``): a
        rack's converters serve its servers' nameplate, whatever the path upstream.
        """
        if not it_capacity_w > 0:
            raise ValueError(f"it_capacity_w must be > 0, got {it_capacity_w}")
        rack = None
        out_w = it_capacity_w
        if rack_stages:
            rack_w = it_capacity_w if rack_capacity_w is None else rack_capacity_w
            if not rack_w > 0:
                raise ValueError(f"rack_capacity_w must be > 0, got {rack_w}")
            dc_w = _server_dc_at_nameplate_w(rack_w)
            rack = RackConversion(_sized(SERVER_PSU, dc_w), cls._sized_chain(dc_w, rack_stages))
            out_w = rack.input_w(it_capacity_w)
        return cls(cls._sized_chain(out_w, stages), rack)

    @staticmethod
    def _sized_chain(out_w: float, stages: Sequence[StageSpec]) -> tuple[ConversionStage, ...]:
        """``stages`` (top first) built upwards from an output of ``out_w`` at full capacity."""
        built: list[ConversionStage] = []
        for spec in reversed(stages):
            stage = _sized(spec, out_w)
            built.append(stage)
            out_w += stage.loss_w(out_w)
        return tuple(reversed(built))

    def input_w(self, output_w: float) -> float:
        """Utility-side power needed to deliver ``output_w`` to the racks."""
        p = output_w if self.rack is None else self.rack.input_w(output_w)
        # stage.loss_w(p) inlined, its constants read once per stage (every IT power change calls this)
        for installed_w, no_load, proportional, square in self._terms:
            x = p / installed_w
            p += installed_w * (no_load + proportional * x + square * x * x)
        return p

    def loss_w(self, output_w: float) -> float:
        """Total conversion loss while delivering ``output_w``."""
        return self.input_w(output_w) - output_w

    def output_w(self, input_w: float) -> float:
        """The IT (output) power a utility-side ``input_w`` can deliver: the inverse of :meth:`input_w`.

        Use it to turn a budget at the utility meter (less cooling) into an IT budget.
        """
        if input_w <= self.input_w(0.0):
            return 0.0
        lo, hi = 0.0, input_w  # input >= output, so the answer is below input_w
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if self.input_w(mid) <= input_w else (lo, mid)
            if hi - lo <= 1e-12 * input_w:
                break
        return lo

    def efficiency(self, output_w: float) -> float:
        """Output over utility input at ``output_w``."""
        return output_w / self.input_w(output_w) if output_w > 0 else 0.0

    def _outputs_w(self, output_w: float) -> list[tuple[ConversionStage, float]]:
        """(stage, its output) at an IT power of ``output_w``, the stage nearest the racks first."""
        out: list[tuple[ConversionStage, float]] = []
        p = output_w
        if self.rack is not None:
            out = self.rack.outputs_w(output_w)
            p = self.rack.input_w(output_w)
        for stage in reversed(self.stages):
            out.append((stage, p))
            p += stage.loss_w(p)
        return out

    def loss_by_stage_w(self, output_w: float) -> dict[str, float]:
        """Loss of each stage while delivering ``output_w`` (utility first). With a rack feed
        that replaces the servers' AC supplies, its stages follow, and ``server_psu_replaced``
        holds the supplies' loss it takes out of the IT power (negative); all sum to :meth:`loss_w`."""
        by_stage = {stage.name: stage.loss_w(p) for stage, p in reversed(self._outputs_w(output_w))}
        if self.rack is not None:
            by_stage["server_psu_replaced"] = self.rack.dc_w(output_w) - output_w
        return by_stage

    def load_fraction_by_stage(self, output_w: float) -> dict[str, float]:
        """Load of each unit of each stage, as a fraction of its rating (utility first)."""
        return {stage.name: stage.unit_load_fraction(p) for stage, p in reversed(self._outputs_w(output_w))}

    def overloaded(self, output_w: float) -> list[str]:
        """Names of the stages whose output exceeds their usable capacity at ``output_w``.

        Above usable capacity a redundant stage still runs but has lost its redundancy;
        a stage with "N" redundancy is over its rating.
        """
        # tolerance: sizing by build() is exact up to rounding
        return [stage.name for stage, p in self._outputs_w(output_w) if p > stage.usable_w * (1.0 + 1e-12)]

    def usable_capacity_w(self) -> float:
        """The largest output (IT power) that keeps every stage within its usable capacity."""
        lo, hi = 0.0, min(s.usable_w for s in self.stages)
        if self.rack is not None:  # the IT power is not bounded by the stages' outputs (a feed may gain on it)
            hi = 2.0 * max(s.usable_w for s in (*self.stages, *self.rack.stages))
        if not self.overloaded(hi):
            return hi
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if not self.overloaded(mid) else (lo, mid)
        return lo

    def stage(self, name: str) -> ConversionStage:
        """The stage called ``name`` (KeyError naming the stages there are, if none is)."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"no stage {name!r} in the power path: {[s.name for s in self.stages]}")

    def with_failed_units(self, failed: Mapping[str, int]) -> PowerPath:
        """The path with ``failed[name]`` units of each named stage out of service.

        The remaining units share the stage's load, each at a higher load fraction, so
        the stage's losses move to fewer units (fewer no-load losses, more square-law
        ones); all of them may now be loaded: the stage's capacity is the remaining units'
        rating, which is still the design capacity while the failures are within its spare
        units (N+1 losing one), and below it otherwise (N losing one). A stage with every
        unit out ends the path above it: those stages stay energised at no load and nothing
        reaches the racks (``reaches_racks`` is False).
        """
        stages: list[ConversionStage] = []
        for stage in self.stages:
            n = failed.get(stage.name, 0)
            if not 0 <= n <= stage.units:
                raise ValueError(f"stage {stage.name!r} has {stage.units} units: {n} cannot fail")
            if n == stage.units:
                return PowerPath(tuple(stages), reaches_racks=False)
            stages.append(stage if n == 0 else ConversionStage(
                stage.name, stage.rated_w, stage.no_load, stage.proportional, stage.square, stage.units - n, "N"))
        return PowerPath(tuple(stages), self.rack)

    def degraded(self, failed: Mapping[str, int]) -> bool:
        """Whether ``failed`` leaves some stage with fewer units than its design may load."""
        return any(failed.get(s.name, 0) > s.units - s.usable_units for s in self.stages)

    def fed_at(self, name: str) -> PowerPath:
        """The part of the path from stage ``name`` down to the racks: what is energised while
        that stage runs from its own store (a UPS from its battery) and the stages above it
        are dark: they carry nothing and lose nothing."""
        stage = self.stage(name)
        return PowerPath(self.stages[self.stages.index(stage):], self.rack, self.reaches_racks)

    def max_output_w(self) -> float:
        """Same as :meth:`usable_capacity_w` (kept for the facility controller)."""
        return self.usable_capacity_w()

    def oversubscription_ratio(self, it_nameplate_w: float) -> float:
        """Sum of IT nameplate power over usable IT capacity (> 1 means oversubscribed)."""
        return it_nameplate_w / self.usable_capacity_w()


def _sized(spec: StageSpec, out_w: float) -> ConversionStage:
    """The stage of ``spec``; without a unit rating, sized so its usable capacity is ``out_w``."""
    rated_w = spec.unit_rating_w
    if rated_w is None:
        rated_w = out_w / usable_units(spec.redundancy, spec.units)
    return ConversionStage(spec.name, rated_w, spec.no_load, spec.proportional, spec.square, spec.units,
                           spec.redundancy)


def _server_dc_at_nameplate_w(it_w: float) -> float:
    """DC output of the servers' AC supplies (``SERVER_PSU``, sized for it) at a wall-plug ``it_w``:
    it = dc (1 + units / usable x (a + b x + c x^2)), x = usable / units, the load at nameplate."""
    psu = SERVER_PSU
    usable = usable_units(psu.redundancy, psu.units)
    x = usable / psu.units
    return it_w / (1.0 + psu.units / usable * (psu.no_load + psu.proportional * x + psu.square * x * x))


# ----------------------------------------------------------------------------------
# Fitting loss curves to published efficiencies, and the cited defaults.


def fit_loss_coefficients(points: Sequence[tuple[float, float]]) -> tuple[float, float, float]:
    """(no_load, proportional, square) through published (load fraction, efficiency) points.

    Three points give the exact curve, more a least-squares fit of the loss fraction
    ``x * (1/eta - 1)``. A coefficient may come out negative (a PSU whose efficiency
    falls at full load has a negative proportional term); the loss stays >= 0 over
    [0, 1] or this raises.
    """
    if len(points) < 3:
        raise ValueError("need at least three (load, efficiency) points")
    rows = [(1.0, x, x * x) for x, _ in points]
    ys = [x * (1.0 / eta - 1.0) for x, eta in points]
    # Normal equations A^T A c = A^T y, solved by Gaussian elimination (3x3).
    m = [[sum(r[i] * r[j] for r in rows) for j in range(3)] + [sum(r[i] * y for r, y in zip(rows, ys))]
         for i in range(3)]
    for col in range(3):
        piv = max(range(col, 3), key=lambda r: abs(m[r][col]))
        m[col], m[piv] = m[piv], m[col]
        for r in range(3):
            if r != col:
                f = m[r][col] / m[col][col]
                m[r] = [a - f * b for a, b in zip(m[r], m[col])]
    a, b, c = (m[i][3] / m[i][i] for i in range(3))
    if min(a + b * x + c * x * x for x in (i / 100 for i in range(101))) < 0:
        raise ValueError(f"points {points} give a negative loss somewhere in [0, 1]")
    return a, b, c


def transformer_coefficients(efficiency: float, at_load: float) -> tuple[float, float, float]:
    """Loss curve of a transformer from one rated efficiency point.

    A transformer has core (no-load) and copper (square-law) losses; designs put the
    peak efficiency near the load at which the standard rates them, where the two are
    equal. That one assumption turns the single regulated point into a curve.
    """
    loss = at_load * (1.0 / efficiency - 1.0)
    return loss / 2.0, 0.0, loss / (2.0 * at_load * at_load)


def stage_efficiency(coefficients: tuple[float, float, float], load_fraction: float) -> float:
    """Efficiency of one unit with ``coefficients`` at ``load_fraction`` of its rating."""
    a, b, c = coefficients
    loss = a + b * load_fraction + c * load_fraction * load_fraction
    return load_fraction / (load_fraction + loss) if load_fraction > 0 else 0.0


def peak_efficiency(coefficients: tuple[float, float, float]) -> tuple[float, float]:
    """(load fraction, efficiency) of a unit's best point over loads in (0, 1].

    The loss per watt delivered, a/x + b + c x, is least at x = sqrt(a/c) (no-load and
    square-law losses equal), or at full load if that is beyond it.
    """
    a, _, c = coefficients
    if not (a > 0 and c >= 0):
        raise ValueError(f"a peak needs a no-load loss > 0 and a square-law loss >= 0, got {coefficients}")
    x = min(1.0, math.sqrt(a / c)) if c > 0 else 1.0
    return x, stage_efficiency(coefficients, x)


def scaled_to_peak(coefficients: tuple[float, float, float], peak_eff: float) -> tuple[float, float, float]:
    """``coefficients`` times one factor, so that the curve's peak efficiency is ``peak_eff``.

    For a converter of which only the peak is published: the shape of the curve (the ratios
    a : b : c, and so the load of the peak) is borrowed from ``coefficients``, its level from
    ``peak_eff``. Scaling every term by k scales the loss at every load by k, so the peak stays
    at the same load and its loss ratio 1/eta - 1 becomes k times the original one.
    """
    if not 0 < peak_eff < 1:
        raise ValueError(f"peak_eff must be in (0, 1), got {peak_eff}")
    _, eta = peak_efficiency(coefficients)
    k = (1.0 / peak_eff - 1.0) / (1.0 / eta - 1.0)
    a, b, c = coefficients
    return k * a, k * b, k * c


# 10 CFR 431.196(b)(2): liquid-immersed three-phase distribution transformer, 2500 kVA,
# 99.53 % at 50 % per-unit load (standard from 1 January 2016). MV -> 480 V.
TRANSFORMER_COEFFICIENTS = transformer_coefficients(0.9953, 0.50)
# Double-conversion UPS: the curve already shipped with dcsim, fitted to the LBNL/EPRI
# measurements (Ton & Fortenbury 2005): 93.3 / 95.3 / 96.0 % at 25 / 50 / 100 % load.
UPS_COEFFICIENTS = (0.0125, 0.0192, 0.010)
# PDU with a 480 -> 208/120 V transformer: 10 CFR 431.196(a)(2), low-voltage dry-type
# three-phase, 300 kVA, 99.02 % at 35 % per-unit load (from 1 January 2016).
PDU_COEFFICIENTS = transformer_coefficients(0.9902, 0.35)
# Busway at 415/240 V without a transformer: resistive loss only, 0.5 % at full load
# (assumption, in the range Schneider WP 113 gives for distribution wiring).
BUSWAY_COEFFICIENTS = (0.0, 0.0, 0.005)
# Rack power supplies: 80 PLUS Titanium, "230 V internal redundant" levels
# (CLEAResult 80 PLUS programme): 90 / 94 / 96 / 91 % at 10 / 20 / 50 / 100 % load.
# The curve passes exactly through the three points where 1+1 supplies run (each at
# most 50 %); it gives 95.7 % at full load, above the 91 % minimum there.
PSU_COEFFICIENTS = fit_loss_coefficients(((0.10, 0.90), (0.20, 0.94), (0.50, 0.96)))

DEFAULT_STAGES: tuple[StageSpec, ...] = (
    StageSpec("transformer", *TRANSFORMER_COEFFICIENTS, redundancy="2N", units=2),
    StageSpec("ups", *UPS_COEFFICIENTS, redundancy="N+1", units=5),
    StageSpec("pdu", *PDU_COEFFICIENTS, redundancy="2N", units=2),
    StageSpec("psu", *PSU_COEFFICIENTS, redundancy="2N", units=2),
)
"""A Tier III-style chain (2N transformers and distribution, N+1 UPS, 1+1 server
PSUs). Drop the last entry when the IT power already counts PSU losses, as a
wall-plug measurement does. See docs/power.md."""


SERVER_PSU: StageSpec = DEFAULT_STAGES[-1]
"""The servers' own AC power supplies (1+1, 80 PLUS Titanium): what dcsim's wall-plug IT power
is measured through, and what a rack feed that brings DC to the servers replaces."""


@dataclass(frozen=True, slots=True)
class RackFeedSpec:
    """A rack feed technology as data: the stages that replace the servers' AC supplies
    (``SERVER_PSU``), from the rack's input down to the servers' DC bus; none keeps them."""

    name: str
    stages: tuple[StageSpec, ...]
    description: str


# Rack power shelf of OCP Open Rack V3: AC -> 48-54 V DC rectifier modules feeding the rack's
# busbar. Six modules a shelf (3 kW modules, 18 kW; 5.5 kW, 33 kW in the high-power rack;
# Delta Electronics and Advanced Energy, "Requirements/Considerations of Next Generation ORv3
# PSU and Power Shelves", OCP), five carrying the load and one spare (N+1). Loss curve: the
# 80 PLUS Titanium minimums of the servers' own supplies (PSU_COEFFICIENTS); shelf rectifiers
# meet them (GE GP100H3M54TE, 3-phase 380/480 V AC to 54 V, 6 kW: "96.5 % typical, exceeds
# 80 PLUS Titanium levels"), so the curve is a lower bound. The busbar's resistive loss has no
# sourced figure and is not counted (docs/power.md).
SHELF_COEFFICIENTS = PSU_COEFFICIENTS

# 800 V DC as NVIDIA's 800 VDC "sidecar" is first deployed: the AC path above is unchanged; a
# sidecar power rack rectifies AC to an 800 V DC bus, and a DC-DC converter in each IT rack steps
# 800 V to the 48-54 V busbar the servers take (replacing their supplies, as busbar_48v does).
# Only peak efficiencies are published; the loss-curve shape is an ASSUMPTION: the 80 PLUS
# Titanium curve of the shelf (PSU_COEFFICIENTS, peak 96.1 % at 62 % load) scaled to each peak
# by scaled_to_peak. Six units each, N+1, as the shelf (ASSUMPTION, no sourced unit count).
# - AC -> 800 V DC (PFC stage), peak 98.5 %: Wolfspeed (via Arrow), "Finding the right technology
#   to solve the datacenter power challenge" (2022), Table 1: "80plus titanium applications
#   demanding a >98.5% pfc peak efficiency".
RECTIFIER_800V_PEAK_EFF = 0.985
# - 800 V -> 48 V, isolated 16:1 LLC DCX, peak 98 %: Renesas (P. Scalia), PEI presentation: "a
#   high power dense isolated 16:1 DC/DC converts 800V down to 48V ... LLC ... (DCX) ... with an
#   efficiency of 98%".
DCDC_800V_48V_PEAK_EFF = 0.98
RECTIFIER_800V_COEFFICIENTS = scaled_to_peak(PSU_COEFFICIENTS, RECTIFIER_800V_PEAK_EFF)
DCDC_800V_48V_COEFFICIENTS = scaled_to_peak(PSU_COEFFICIENTS, DCDC_800V_48V_PEAK_EFF)

RACK_FEEDS: dict[str, RackFeedSpec] = {
    "ac_415v": RackFeedSpec("ac_415v", (), "415/240 V AC to every server's own 1+1 power supplies (the default)"),
    "busbar_48v": RackFeedSpec(
        "busbar_48v", (StageSpec("power_shelf", *SHELF_COEFFICIENTS, redundancy="N+1", units=6),),
        "OCP Open Rack V3: AC to an N+1 rack power shelf, 48-54 V DC on the rack's busbar to the servers"),
    "dc_800v": RackFeedSpec(
        "dc_800v", (StageSpec("rectifier_800v", *RECTIFIER_800V_COEFFICIENTS, redundancy="N+1", units=6),
                    StageSpec("dcdc_800v_48v", *DCDC_800V_48V_COEFFICIENTS, redundancy="N+1", units=6)),
        "NVIDIA 800 VDC sidecar: AC to an N+1 sidecar rectifier, 800 V DC to an N+1 DC-DC converter in "
        "each rack, 48-54 V DC on the rack's busbar to the servers"),
}
"""Rack feed technologies (``facility.power.rack_feed``), each as the stages below the PDU that
replace the servers' AC supplies (rack input first). ``dc_800v`` keeps the AC path above it;
800 V DC with solid-state transformers in place of the transformer, UPS and PDU (NVIDIA's full
architecture, OCP Mt Diablo +/-400 V) is not here: those stages are above the PDU."""


__all__ = [
    "BUSWAY_COEFFICIENTS", "DCDC_800V_48V_COEFFICIENTS", "DEFAULT_STAGES", "PDU_COEFFICIENTS", "PSU_COEFFICIENTS",
    "RACK_FEEDS", "RECTIFIER_800V_COEFFICIENTS", "SERVER_PSU", "SHELF_COEFFICIENTS", "TRANSFORMER_COEFFICIENTS",
    "UPS_COEFFICIENTS", "ConversionStage", "PowerPath", "RackConversion", "RackFeedSpec", "StageSpec",
    "fit_loss_coefficients", "peak_efficiency", "scaled_to_peak", "stage_efficiency", "transformer_coefficients",
    "usable_units",
]
