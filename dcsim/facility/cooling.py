"""Cooling: from IT heat and outdoor weather to cooling power, water and reusable heat.

Two layers, both pure:

- :class:`CoolingTechnology` is what sits at the rack: air (CRAH units on chilled
  water), a rear-door heat exchanger, direct-to-chip cold plates with a residual
  air-cooled share, or single-phase immersion. It sets how dense a rack may be, which
  share of the heat goes to liquid, how warm the facility water may be, and the fan and
  pump power at the rack and in the room. Each technology is one YAML file in
  ``dcsim/data/cooling/`` (every figure with its source; a user adds one through
  ``DCSIM_CATALOGUE_PATH``, docs/extending.md); ``TECHNOLOGIES`` is the registry.
- :class:`CoolingPlant` is the building's heat-rejection plant: chillers, an economiser
  (free cooling through a plate heat exchanger), pumps, and a condenser that is either
  an evaporative cooling tower (follows the wet bulb, uses water) or a dry cooler /
  air-cooled condenser (follows the dry bulb, uses no water).

Everything is linear in heat by design: :meth:`CoolingPlant.coefficients` returns
watts of each component per watt of heat at a given weather, so the control loop
multiplies by the heat of the moment. The physics, each loop (liquid, and the chilled
air loop for the air-cooled share) taken on its own:

- economiser: the condenser side can deliver water at ``sink + economiser_approach``
  (sink = wet bulb for a tower, dry bulb for a dry cooler). Run in series with the
  chiller on the return water, it carries

      share = clip((T_return - T_econ) / (T_return - T_supply), 0, 1)

  so it carries everything when ``T_econ <= T_supply``, nothing when
  ``T_econ >= T_return = T_supply + loop_delta_t_k``, and linearly in that band;
- chiller: COP is a fraction of the Carnot COP between the refrigerant evaporating at
  ``T_supply - evaporator_approach_k`` and condensing at ``sink + condenser_approach``
  (so COP falls as the condenser side warms). The chiller only carries the share the
  economiser does not;
- heat rejection fans (tower or dry cooler) move the heat plus the chiller's work;
  facility pumps move the heat; CRAH fans move the air-cooled share; CDU pumps (or a
  rear door's fans and pumps) move the liquid share: linear shares of the technology on
  their own, or, given ``movers`` (a facility's racks: ``airflow.rack_movers``), the air
  handlers' and CDU pumps' physics at the racks' density. Server fans are IT power and
  stay out of the total (the facility meters them, ``airflow.server_fan_ratio``);
- water (towers only, a hybrid wet/dry cooler): the heat the tower actually rejects (the
  chillers' condenser heat, and the economiser's heat unless the dry bulb is low enough for
  dry mode) times the evaporation per joule of Merkel's straight-line law
  (:func:`tower_evaporation_kg_per_j`: the latent share follows the outdoor air), plus
  blowdown ``evaporation / (cycles - 1)``; tower fans follow Merkel's enthalpy potential
  (cube of the air flow);
- reusable heat: the liquid loop's return temperature, ``supply + loop_delta_t_k``, is
  warm enough to export when it reaches ``heat_reuse_min_c``; then the liquid-captured share
  of the IT heat (GPUs and servers; never the power path's losses, which stay in the
  electrical rooms) that the plant actually removes is reusable, per watt of IT heat.

Every default is cited in ``docs/cooling.md``; numbers marked *assumption* there are
engineering estimates a user should override when they know their plant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dcsim.core.units import ZERO_C_K
from dcsim.facility.climate import (
    humidity_ratio_at_wet_bulb,
    moist_air_enthalpy_j_per_kg,
    saturated_enthalpy_j_per_kg,
    saturated_humidity_ratio,
)
from dcsim.hardware.catalogue import (
    Catalogue,
    CatalogueFileError,
    SpecError,
    figure,
    read_directory,
    read_file,
    text,
)

if TYPE_CHECKING:
    from dcsim.facility.airflow import MoverPower

# Latent heat of vaporisation of water near 25-30 C (steam tables: 2.44 MJ/kg at 25 C).
LATENT_HEAT_J_PER_KG = 2.45e6
WATER_KG_PER_L = 1.0
CONDENSERS = ("tower", "dry")
AIR_LOOP_DELTA_T_K = 8.0  # chilled water for CRAH coils: 8 K between supply and return (typical 6-10 K)
# The cooling tower's design point, where its fans run at full speed: the CTI / AHRI 550/590 condition of
# 35 C dry bulb and 25.6 C (78 F) wet bulb, condenser water 29.4 -> 35 C (docs/cooling.md, "Water").
TOWER_DESIGN_DRY_BULB_C = 35.0
TOWER_DESIGN_WET_BULB_C = 25.6


# Chiller part-load performance, EnergyPlus Chiller:Electric:EIR form (EnergyPlus Engineering Reference,
# "Electric Chiller Model Based on Condenser Entering Temperature"; the DOE-2.1E model): electric input ratio
# EIR = EIR_ref x EIRFT(temperatures) x EIRFPLR(PLR), EIRFPLR = a + b PLR + c PLR^2, so COP = COP_full x
# PLR / EIRFPLR(PLR). Coefficients of the DOE-2 centrifugal chiller, 5.50 COP (EnergyPlus dataset
# Chillers.idf; the same record in the Modelica Buildings library, "DOE-2 Centrifugal/5.50COP"). Below the
# minimum unloading ratio the chiller false-loads (hot-gas bypass): power stays that of the minimum.
CHILLER_EIR_FPLR = (0.222903, 0.313387, 0.463710)
# AHRI Standard 550/590 integrated part-load value: weights of COP at 100, 75, 50, 25 % load, with entering
# condenser water relieved to 29.4, 23.9, 18.3, 18.3 C (85, 75, 65, 65 F).
IPLV_WEIGHTS = ((1.00, 0.01, 29.4), (0.75, 0.42, 23.9), (0.50, 0.45, 18.3), (0.25, 0.12, 18.3))


def part_load_cop_factor(part_load_ratio: float, min_unload_ratio: float = 0.1) -> float:
    """COP at a chiller's part-load ratio over its full-load COP at the same temperatures:
    ``PLR / EIRFPLR(max(PLR, min_unload_ratio))`` (``CHILLER_EIR_FPLR``). About 1.0 at half load
    (the curve's sweet spot), 0.76 at a quarter, 0.39 at a tenth: a lightly loaded chiller is
    less efficient per watt."""
    if not 0.0 < part_load_ratio <= 1.0:
        raise ValueError(f"part_load_ratio {part_load_ratio} is not in (0, 1]")
    a, b, c = CHILLER_EIR_FPLR
    p = max(part_load_ratio, min_unload_ratio)
    return part_load_ratio / (a + b * p + c * p * p)


def _air_state(dry_bulb_c: float, wet_bulb_c: float) -> tuple[float, float]:
    """(humidity ratio kg/kg, enthalpy J/kg dry air) of outdoor air, at standard pressure."""
    w = float(humidity_ratio_at_wet_bulb(dry_bulb_c, wet_bulb_c))
    return w, float(moist_air_enthalpy_j_per_kg(dry_bulb_c, w))


def tower_evaporation_kg_per_j(dry_bulb_c: float, wet_bulb_c: float, water_c: float) -> float:
    """Water evaporated per joule a wet cooling tower rejects, from the air's state and the
    mean water temperature in the fill.

    Merkel's method (ASHRAE Handbook - HVAC Systems and Equipment, ch. "Cooling Towers"):
    at a Lewis factor of 1 the air moves on the psychrometric chart along the straight line
    toward saturated air at the water temperature, so every kilogram of air gains moisture
    and enthalpy in the ratio ``(W_s(t_w) - W_in) / (h_s(t_w) - h_in)``; that ratio is the
    water evaporated per joule. Cold humid air takes more of the heat sensibly (about 60 %
    of it latent at 5 C), hot dry air cools sensibly while it evaporates (over 100 % latent).
    """
    w_in, h_in = _air_state(dry_bulb_c, wet_bulb_c)
    dh = float(saturated_enthalpy_j_per_kg(water_c)) - h_in
    if dh <= 0.0:
        return 0.0
    return max(float(saturated_humidity_ratio(water_c)) - w_in, 0.0) / dh


def _tower_driving_j_per_kg(dry_bulb_c: float, wet_bulb_c: float, hot_water_c: float) -> float:
    """Merkel's enthalpy potential at the tower's hot end: saturated air at the entering water
    less the outdoor air; the air a tower must move per joule is inversely proportional to it."""
    return float(saturated_enthalpy_j_per_kg(hot_water_c)) - _air_state(dry_bulb_c, wet_bulb_c)[1]


_TOWER_DESIGN_DRIVING_J_PER_KG = _tower_driving_j_per_kg(
    TOWER_DESIGN_DRY_BULB_C, TOWER_DESIGN_WET_BULB_C, TOWER_DESIGN_WET_BULB_C + 4.0 + 5.5)


class CoolingSpecError(SpecError):
    """A ``CoolingTechnology`` value that is wrong, naming the field it is in."""


class CoolingFileError(CatalogueFileError):
    """A cooling-technology catalogue file that cannot be loaded; the message names file and field."""

    kind = "cooling"


@dataclass(frozen=True)
class CoolingTechnology:
    """What cools the rack, and what it asks of the plant (one file in ``dcsim/data/cooling/``)."""

    name: str
    max_rack_kw: float  # the most heat per rack it can remove
    liquid_fraction: float  # share of the IT heat taken by liquid at the rack
    supply_temp_c: float  # facility water supply temperature its liquid share allows
    air_supply_temp_c: float  # chilled water the CRAH coils need for the air-cooled share
    loop_delta_t_k: float  # return minus supply temperature of the facility water
    rack_side_share: float  # CDU pumps / rear-door fans, W per W of liquid heat
    air_side_share: float  # CRAH fans, W per W of air-cooled heat
    server_fan_share: float  # server fans, W per W of IT heat: already inside IT power, informational
    # Thermal dynamics of the rack (see dcsim/facility/thermal.py):
    inlet_approach_k: float  # GPU inlet air / coolant above the facility supply temperature
    gpu_resistance_k_per_w: float  # GPU temperature rise above inlet/coolant per watt
    tau_s: float  # time constant of the inlet/coolant temperature
    full_shortfall_rise_k: float  # inlet/coolant rise when none of the heat is removed
    capex_usd_per_w: float = 0.0  # capital cost of the cooling system per W of critical IT (facility/cost.py)
    # Share of the IT heat the servers' own fans push into air (dcsim/facility/airflow.py); None: the
    # share not on liquid, 1 - liquid_fraction. A rear door differs: air-cooled servers, heat to water.
    server_air_share: float | None = None
    # An active rear door's coil depth in rows: its fans push the servers' air through a coil of the
    # rack's face (dcsim/facility/airflow.py DoorCoil); None: no door fans.
    door_coil_rows: float | None = None
    # The rack's own CDU (an immersion tank's pumps and plate heat exchanger) sized for this much
    # liquid heat (kW): below it the pumps slow on a fixed system curve, head following the square
    # of the flow (dcsim/facility/airflow.py rack_movers); None: CDUs shared by many racks, sized per MW.
    cdu_rated_kw: float | None = None
    source: str = ""  # one-line summary of the sources
    provenance: dict[str, str] = field(default_factory=dict, hash=False, compare=False)  # figure -> source
    assumptions: tuple[str, ...] = ()  # figures no source gives (their provenance says why)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise CoolingSpecError("name", "must be a non-empty string")
        if not 0.0 <= self.liquid_fraction <= 1.0:
            raise CoolingSpecError("liquid_fraction", f"must be a share in [0, 1], got {self.liquid_fraction!r}")
        for name in ("max_rack_kw", "loop_delta_t_k", "tau_s"):
            if not getattr(self, name) > 0:
                raise CoolingSpecError(name, f"must be > 0, got {getattr(self, name)!r}")
        if self.server_air_share is not None and not 0.0 <= self.server_air_share <= 1.0:
            raise CoolingSpecError("server_air_share", f"must be a share in [0, 1], got {self.server_air_share!r}")
        if self.door_coil_rows is not None and not 0.0 < self.door_coil_rows <= 20.0:
            raise CoolingSpecError("door_coil_rows", f"must be coil rows in (0, 20], got {self.door_coil_rows!r}")
        if self.cdu_rated_kw is not None and not self.max_rack_kw <= self.cdu_rated_kw <= 2000.0:
            raise CoolingSpecError("cdu_rated_kw", f"must be kW in [max_rack_kw={self.max_rack_kw:g}, 2000] (the "
                                   f"rack's CDU carries every rack the technology allows), got {self.cdu_rated_kw!r}")

    @property
    def gpus_on_liquid(self) -> bool:
        """Whether the GPUs sit on the liquid loop (cold plates, bath, or room air cooled by a rear door)."""
        return self.liquid_fraction > 0.0

    @property
    def server_air_cooled_share(self) -> float:
        """Share of the IT heat moved by server fans: ``server_air_share``, else ``1 - liquid_fraction``."""
        return 1.0 - self.liquid_fraction if self.server_air_share is None else self.server_air_share

    @property
    def rack_inlet_c(self) -> float:
        """GPU inlet air (air, rear door) or coolant (liquid) temperature with the plant keeping up."""
        return self.supply_temp_c + self.inlet_approach_k

    def check_rack_kw(self, rack_kw: float) -> None:
        """Raise a clear error for a rack denser than this technology can cool."""
        if rack_kw > self.max_rack_kw:
            raise ValueError(
                f"a {rack_kw:.1f} kW rack exceeds the {self.max_rack_kw:.0f} kW per rack that "
                f"'{self.name}' cooling can remove; choose a denser technology or fewer GPUs per rack"
            )


# The figures of a file (each {value, source, assumption?}, units in the key as in the
# dataclass) and the range each may take: (low, high, low inclusive, what is allowed).
_FIGURES: dict[str, tuple[float, float, bool, str]] = {
    "max_rack_kw": (0.0, 2000.0, False, "kW per rack in (0, 2000]"),
    "liquid_fraction": (0.0, 1.0, True, "a share in [0, 1]"),
    "supply_temp_c": (0.0, 70.0, True, "degrees C in [0, 70]"),
    "air_supply_temp_c": (0.0, 40.0, True, "degrees C in [0, 40]"),
    "loop_delta_t_k": (0.0, 40.0, False, "kelvin in (0, 40]"),
    "rack_side_share": (0.0, 1.0, True, "W per W in [0, 1]"),
    "air_side_share": (0.0, 1.0, True, "W per W in [0, 1]"),
    "server_fan_share": (0.0, 1.0, True, "W per W in [0, 1]"),
    "inlet_approach_k": (0.0, 40.0, True, "kelvin in [0, 40]"),
    "gpu_resistance_k_per_w": (0.0, 1.0, False, "K per W in (0, 1]"),
    "tau_s": (0.0, 86400.0, False, "seconds in (0, 86400]"),
    "full_shortfall_rise_k": (0.0, 200.0, False, "kelvin in (0, 200]"),
    "capex_usd_per_w": (0.0, 100.0, True, "$ per W in [0, 100]"),
}
# Figures a file may leave out (the dataclass default keeps today's results): same form as _FIGURES.
_OPTIONAL_FIGURES: dict[str, tuple[float, float, bool, str]] = {
    "server_air_share": (0.0, 1.0, True, "a share in [0, 1]"),
    "door_coil_rows": (0.0, 20.0, False, "coil rows in (0, 20]"),
    "cdu_rated_kw": (0.0, 2000.0, False, "kW per rack in (0, 2000]"),
}
_KEYS = ("name", "source", *_FIGURES)
_ALLOWED_KEYS = (*_KEYS, *_OPTIONAL_FIGURES)


def technology_from_mapping(data: Any, file: str = "<mapping>") -> CoolingTechnology:
    """Build a ``CoolingTechnology`` from one parsed catalogue file; errors name file and field."""
    if not isinstance(data, dict):
        raise CoolingFileError(file, None, f"must hold a mapping of fields, got {type(data).__name__}")
    for key in data:
        if key not in _ALLOWED_KEYS:
            raise CoolingFileError(file, str(key), f"is not a cooling field; allowed: {sorted(_ALLOWED_KEYS)}")
    for key in _KEYS:
        if key not in data:
            raise CoolingFileError(file, key, "is missing")
    kwargs: dict[str, Any] = {"name": text(file, "name", data["name"], CoolingFileError),
                              "source": text(file, "source", data["source"], CoolingFileError)}
    provenance: dict[str, str] = {}
    assumptions: list[str] = []
    for key, (low, high, low_inclusive, allowed) in (_FIGURES | _OPTIONAL_FIGURES).items():
        if key not in data:  # only optional figures can be absent: the required ones were checked above
            continue
        _, value, src, assumed = figure(file, key, data[key], CoolingFileError)
        if not (math.isfinite(value) and (low <= value if low_inclusive else low < value) and value <= high):
            raise CoolingFileError(file, f"{key}.value", f"must be {allowed}, got {value!r}")
        kwargs[key] = value
        provenance[key] = src
        if assumed:
            assumptions.append(key)
    try:
        return CoolingTechnology(**kwargs, provenance=provenance, assumptions=tuple(assumptions))
    except CoolingSpecError as exc:
        raise CoolingFileError(file, exc.field, exc.problem) from None


def load_technology_file(path: Traversable | Path | str) -> CoolingTechnology:
    """Read one cooling-technology YAML file."""
    return read_file(path, technology_from_mapping, CoolingFileError)


def load_technologies(directory: Traversable | Path | str | None = None) -> dict[str, CoolingTechnology]:
    """Read every ``*.yaml`` in ``directory`` (default: the packaged ``dcsim/data/cooling``)."""
    return read_directory(directory, "cooling", technology_from_mapping, CoolingFileError, "cooling")


# The registry: the packaged files plus the user's (DCSIM_CATALOGUE_PATH, docs/extending.md).
TECHNOLOGIES: Catalogue[CoolingTechnology] = Catalogue("cooling", technology_from_mapping, CoolingFileError, "cooling")


def technology_names() -> list[str]:
    """Names accepted as ``facility.cooling.technology``."""
    return sorted(TECHNOLOGIES)


@dataclass(frozen=True)
class CoolingCoefficients:
    """Watts of each cooling component per watt of IT heat at one weather (linear in heat)."""

    chiller: float
    heat_rejection_fans: float  # cooling-tower or dry-cooler fans
    pumps: float  # facility (chilled / condenser water) pumps
    rack_side: float  # CDU pumps, and an active rear door's fans
    air_fans: float  # CRAH fans for the air-cooled share
    water_l_per_j: float  # tower evaporation + blowdown, litres per joule of IT heat
    economiser_share: float  # share of the heat removed without the chiller
    reusable_heat_share: float  # W exportable at a useful temperature per W of IT heat (not of conversion losses)
    shortfall_share: float  # share of the heat the plant cannot remove (failed chiller capacity)
    gpu_shortfall_share: float  # the same, for the loop that cools the GPUs (drives rack thermals)

    @property
    def total(self) -> float:
        """All cooling power per watt of heat (server fans excluded: they are IT power)."""
        return self.chiller + self.heat_rejection_fans + self.pumps + self.rack_side + self.air_fans


@dataclass(frozen=True)
class CoolingPlant:
    """Heat-rejection plant serving one cooling technology (defaults cited in ``docs/cooling.md``)."""

    technology: CoolingTechnology
    condenser: str = "dry"  # "dry" (dry cooler / air-cooled chiller, dry bulb, no water) or "tower" (evaporative, wet bulb)
    carnot_fraction: float = 0.6  # chiller COP / Carnot COP (second-law efficiency 0.5-0.7)
    evaporator_approach_k: float = 2.0  # refrigerant below the leaving chilled water
    tower_condenser_approach_k: float = 11.0  # condensing above wet bulb: tower approach 4 + range 5.5 + 1.5
    dry_condenser_approach_k: float = 17.0  # condensing above dry bulb in an air-cooled condenser
    tower_economiser_approach_k: float = 6.0  # water from tower + plate HX above wet bulb (4 + 2)
    dry_economiser_approach_k: float = 8.0  # water from dry cooler + plate HX above dry bulb (6 + 2)
    facility_pump_share: float = 0.02  # chilled + condenser water pumps, W per W of heat
    tower_fan_share: float = 0.01  # tower fans, W per W rejected
    dry_fan_share: float = 0.03  # dry-cooler fans, W per W rejected
    # Tower water from psychrometrics (tower_evaporation_kg_per_j); a number instead fixes the share of
    # the tower's heat that leaves as latent heat (the 0.85 rule of thumb), at LATENT_HEAT_J_PER_KG.
    evaporated_share: float | None = None
    cycles_of_concentration: float = 4.0  # make-up = evaporation x cycles / (cycles - 1); 3-6 typical
    tower_approach_k: float = 4.0  # cold tower water above the wet bulb at design
    tower_range_k: float = 5.5  # condenser water warming through the chiller condenser (29.4 -> 35 C)
    plate_hx_approach_k: float = 2.0  # economiser plate heat exchanger, inside the economiser approaches
    heat_reuse_min_c: float = 40.0  # return water at least this warm is exportable heat
    # Part load (coefficients(heat_load_share=...)): equal chillers staged on as the load needs them, each
    # then at the plant's load over the running units (assumption: 4, an N+1 plant of 3 + 1).
    chiller_units: int = 4
    chiller_min_unload_ratio: float = 0.1  # below it a chiller false-loads (assumption: 0.1-0.25 typical)
    # Room air handlers and CDU pumps as physics for the racks' density (airflow.rack_movers,
    # built for the facility's racks by dcsim.facility.build); None: the technology's linear
    # air_side_share and rack_side_share (the plant on its own, without a rack).
    movers: MoverPower | None = None

    def __post_init__(self) -> None:
        if self.condenser not in CONDENSERS:
            raise ValueError(f"condenser must be one of {CONDENSERS}, got {self.condenser!r}")
        if not 0.0 < self.carnot_fraction <= 1.0:
            raise ValueError(f"carnot_fraction {self.carnot_fraction} is not in (0, 1]")
        if self.cycles_of_concentration <= 1.0:
            raise ValueError(f"cycles_of_concentration {self.cycles_of_concentration} must be > 1")
        if self.chiller_units < 1:
            raise ValueError(f"chiller_units {self.chiller_units} must be >= 1")
        if not 0.0 < self.chiller_min_unload_ratio <= 1.0:
            raise ValueError(f"chiller_min_unload_ratio {self.chiller_min_unload_ratio} is not in (0, 1]")

    @property
    def air_coil_supply_c(self) -> float:
        """Chilled water the room-air coils get: the technology's, colder by what open tiles'
        recirculation asks to hold the hottest inlet (``movers.supply_depression_k``; 0 when contained)."""
        depression_k = self.movers.supply_depression_k if self.movers is not None else 0.0
        return self.technology.air_supply_temp_c - depression_k

    def sink_c(self, dry_bulb_c: float, wet_bulb_c: float) -> float:
        """The outdoor temperature the condenser rejects heat to."""
        return wet_bulb_c if self.condenser == "tower" else dry_bulb_c

    def chiller_cop(self, supply_c: float, sink_c: float, part_load_ratio: float = 1.0) -> float:
        """Chiller COP making ``supply_c`` water with the condenser on ``sink_c`` outdoors, each running
        chiller at ``part_load_ratio`` of its capacity: the lift (condensing minus evaporating
        temperature) sets the full-load COP, the part-load curve scales it (``part_load_cop_factor``)."""
        approach = self.tower_condenser_approach_k if self.condenser == "tower" else self.dry_condenser_approach_k
        t_evap_k = supply_c - self.evaporator_approach_k + ZERO_C_K
        t_cond_k = sink_c + approach + ZERO_C_K
        lift_k = max(t_cond_k - t_evap_k, 5.0)  # below ~5 K of lift the economiser carries the load anyway
        full = self.carnot_fraction * t_evap_k / lift_k
        if part_load_ratio == 1.0:
            return full
        return full * part_load_cop_factor(part_load_ratio, self.chiller_min_unload_ratio)

    def chiller_part_load_ratio(self, mechanical_load_share: float, chiller_capacity_share: float = 1.0) -> float:
        """Part-load ratio of each running chiller when the chillers must carry ``mechanical_load_share``
        of the plant's design heat: units are staged on one by one (``chiller_units``), so each runs at the
        load over the running units' capacity; at 1 when the surviving capacity cannot carry it all."""
        if mechanical_load_share <= 0.0:
            return 1.0  # nothing to carry: no chiller runs, the ratio does not matter
        demand_units = mechanical_load_share * self.chiller_units
        if demand_units >= self.chiller_units * chiller_capacity_share:
            return 1.0
        return demand_units / math.ceil(demand_units - 1e-12)

    def iplv(self, supply_c: float = 6.7) -> float:
        """AHRI 550/590 integrated part-load value (as a COP) of this plant's water-cooled chiller:
        the weighted COPs at 100/75/50/25 % load with the standard's condenser-water relief (entering
        condenser water = wet bulb + the tower's approach, so the sink is that minus the approach)."""
        return sum(weight * self.chiller_cop(supply_c, ecwt_c - self.tower_approach_k, load)
                   for load, weight, ecwt_c in IPLV_WEIGHTS)

    def economiser_share(self, supply_c: float, delta_t_k: float, sink_c: float) -> float:
        """Share of a loop's heat the economiser carries (series pre-cooling of the return water)."""
        approach = self.tower_economiser_approach_k if self.condenser == "tower" else self.dry_economiser_approach_k
        econ_c = sink_c + approach
        return min(1.0, max(0.0, (supply_c + delta_t_k - econ_c) / delta_t_k))

    def _evaporation_kg_per_j(self, dry_bulb_c: float, wet_bulb_c: float, water_c: float) -> float:
        if self.evaporated_share is not None:
            return self.evaporated_share / LATENT_HEAT_J_PER_KG
        return tower_evaporation_kg_per_j(dry_bulb_c, wet_bulb_c, water_c)

    def _wet_fan_duty(self, dry_bulb_c: float, wet_bulb_c: float, hot_water_c: float) -> float:
        """Tower fan power per watt at this weather over its design share: air flow per joule
        scales as 1 / Merkel's enthalpy potential, fan power as the cube of the flow (fan
        affinity laws, at the design heat); at most full speed (beyond it the approach widens)."""
        driving = _tower_driving_j_per_kg(dry_bulb_c, wet_bulb_c, hot_water_c)
        return 1.0 if driving <= 0.0 else min(1.0, _TOWER_DESIGN_DRIVING_J_PER_KG / driving) ** 3

    def _tower(self, dry_bulb_c: float, wet_bulb_c: float, chiller_heat: float,
               free_cooled: list[tuple[float, float, float]]) -> tuple[float, float]:
        """(fan W, evaporation kg/s) per watt of heat of the tower plant, a hybrid wet/dry cooler.

        The chillers' condenser water runs wet, at ``wet bulb + approach`` and ``range`` above.
        A loop's free-cooled heat runs dry, evaporating nothing, when the dry bulb is low enough
        for the coil to make the loop's supply water dry (``dry bulb + dry_economiser_approach_k
        <= supply``), its fans slowing as the air gets colder; otherwise it runs wet between the
        loop's return water (less the plate heat exchanger) and ``wet bulb + approach``.
        """
        cold_c = wet_bulb_c + self.tower_approach_k
        hot_c = cold_c + self.tower_range_k
        fans = evaporation = 0.0
        if chiller_heat > 0.0:
            fans += chiller_heat * self.tower_fan_share * self._wet_fan_duty(dry_bulb_c, wet_bulb_c, hot_c)
            evaporation += chiller_heat * self._evaporation_kg_per_j(dry_bulb_c, wet_bulb_c, 0.5 * (cold_c + hot_c))
        coil_approach_k = self.dry_economiser_approach_k - self.plate_hx_approach_k
        for heat, supply_c, delta_t_k in free_cooled:
            if heat <= 0.0:
                continue
            if dry_bulb_c + self.dry_economiser_approach_k <= supply_c:  # dry mode
                ratio = coil_approach_k / max(supply_c - self.plate_hx_approach_k - dry_bulb_c, coil_approach_k)
                fans += heat * self.dry_fan_share * ratio**3
                continue
            loop_hot_c = max(supply_c + delta_t_k - self.plate_hx_approach_k, cold_c)
            fans += heat * self.tower_fan_share * self._wet_fan_duty(dry_bulb_c, wet_bulb_c, loop_hot_c)
            evaporation += heat * self._evaporation_kg_per_j(dry_bulb_c, wet_bulb_c, 0.5 * (cold_c + loop_hot_c))
        return fans, evaporation

    def coefficients(
        self, dry_bulb_c: float, wet_bulb_c: float, chiller_capacity_share: float = 1.0,
        heat_load_share: float | None = None,
    ) -> CoolingCoefficients:
        """Cooling power, water and reusable heat per watt of IT heat at this weather.

        ``chiller_capacity_share < 1`` models failed chillers (or CDUs): only that share
        of the mechanically cooled heat is removed, the rest is ``shortfall_share``;
        ``gpu_shortfall_share`` is the unremoved share of the loop cooling the GPUs, the
        input of :class:`dcsim.facility.thermal.RackThermal`. ``heat_load_share`` is the
        heat as a share of the plant's design heat: the chillers then run at part load
        (``chiller_part_load_ratio``, ``part_load_cop_factor``); None: at full-load COP.
        """
        if not 0.0 <= chiller_capacity_share <= 1.0:
            raise ValueError(f"chiller_capacity_share {chiller_capacity_share} is not in [0, 1]")
        if heat_load_share is not None and not 0.0 <= heat_load_share <= 1.0:
            raise ValueError(f"heat_load_share {heat_load_share} is not in [0, 1]")
        tech = self.technology
        sink = self.sink_c(dry_bulb_c, wet_bulb_c)
        loops = (  # (share of heat, supply temperature, loop delta T)
            (tech.liquid_fraction, tech.supply_temp_c, tech.loop_delta_t_k),
            (1.0 - tech.liquid_fraction, self.air_coil_supply_c, AIR_LOOP_DELTA_T_K),
        )
        plr = 1.0
        if heat_load_share is not None:
            mechanical = sum(share * (1.0 - self.economiser_share(supply_c, delta_t_k, sink))
                             for share, supply_c, delta_t_k in loops if share > 0.0)
            plr = self.chiller_part_load_ratio(heat_load_share * mechanical, chiller_capacity_share)
        chiller = econ = shortfall = 0.0
        loop_shortfall = []  # share of each loop's own heat left unremoved
        free_cooled = []  # (heat the economiser carries, supply temperature, delta T) of each loop
        for share, supply_c, delta_t_k in loops:
            econ_share = self.economiser_share(supply_c, delta_t_k, sink)
            loop_shortfall.append((1.0 - econ_share) * (1.0 - chiller_capacity_share))
            if share <= 0.0:
                continue
            mech = share * (1.0 - econ_share)
            econ += share * econ_share
            chiller += mech * chiller_capacity_share / self.chiller_cop(supply_c, sink, plr)
            shortfall += mech * (1.0 - chiller_capacity_share)
            free_cooled.append((share * econ_share, supply_c, delta_t_k))
        removed = 1.0 - shortfall
        rejected = removed + chiller  # the heat plus the chiller's work leaves through the condenser
        water = 0.0
        if self.condenser == "tower":
            # the chillers' condenser heat (their share of the load + compressor work) goes through the tower
            fans, evaporation_kg = self._tower(dry_bulb_c, wet_bulb_c, rejected - econ, free_cooled)
            water = evaporation_kg / WATER_KG_PER_L * self.cycles_of_concentration / (self.cycles_of_concentration - 1.0)
        else:
            fans = self.dry_fan_share * rejected
        # Reusable heat: only what the liquid loop actually carries away at a usable temperature, per watt
        # of the IT heat (GPUs and servers): the conversion losses of the UPS and transformers are in
        # electrical rooms, on air, and never reach the loop; heat a failed chiller leaves in the loop is not
        # rejected, so it is not offered either. So reusable <= liquid share x IT <= heat rejected.
        return_c = tech.supply_temp_c + tech.loop_delta_t_k
        warm = tech.gpus_on_liquid and return_c >= self.heat_reuse_min_c
        reusable = tech.liquid_fraction * (1.0 - loop_shortfall[0]) if warm else 0.0
        return CoolingCoefficients(
            chiller=chiller,
            heat_rejection_fans=fans,
            pumps=self.facility_pump_share * removed,
            rack_side=tech.rack_side_share * tech.liquid_fraction if self.movers is None
            else self.movers.cdu_pumps + self.movers.door_fans,
            air_fans=tech.air_side_share * (1.0 - tech.liquid_fraction) if self.movers is None
            else self.movers.air_handlers,
            water_l_per_j=water,
            economiser_share=econ,
            reusable_heat_share=reusable,
            shortfall_share=shortfall,
            gpu_shortfall_share=loop_shortfall[0 if tech.gpus_on_liquid else 1],
        )

