"""What compute costs: amortised capital (GPUs, servers, network, building, electrical plant,
cooling) plus energy.

Capital is spread evenly over each asset's life (straight-line), or, with a cost of
capital ``r`` > 0, as a level annuity: capex x r / (1 - (1 + r)^-n) per year over ``n``
years, which is what a loan or an investor's required return turns a purchase into.
Nothing here knows about the simulation: the facility loop passes in what it measured
(duration, energy cost, tokens) and gets dollars back.

Defaults are round numbers from public sources (see ``docs/grid_and_cost.md`` and
DATA_SOURCES.md); each is a field of ``CostModel`` and can be overridden, e.g.
``CostModel(gpu_usd=35_000, cost_of_capital=0.08)``. The GPU price is the chosen GPU's
own, from its catalogue file with its source (``dcsim/data/gpus``): the config builder uses
``CostModel.for_gpu(gpu, ...)``; a ``CostModel()`` built by hand prices the H100-SXM entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dcsim.core.units import DAY_S, HOUR_S, KWH_J
from dcsim.facility.cooling import TECHNOLOGIES
from dcsim.facility.grid import DEMAND_INTERVAL_S
from dcsim.hardware.gpus import GPUS, GpuSpec

YEAR_S = 365.0 * DAY_S
MONTH_S = YEAR_S / 12.0  # a billing month: demand charges are prorated to the run by T / MONTH_S


def _cooling_defaults() -> dict[str, float]:
    # Capital cost of the cooling system per W of critical IT, by technology: each
    # technology's capex_usd_per_w (dcsim/data/cooling/<name>.yaml, with its source).
    # Assumption there: ~20 % of a $10/W air-cooled build is mechanical (chillers, CRAHs,
    # towers, piping); liquid adds CDUs, secondary loops and manifolds, immersion adds tanks
    # and dielectric fluid. Order-of-magnitude values; replace with quotes for a real design.
    return {name: tech.capex_usd_per_w for name, tech in TECHNOLOGIES.items()}


@dataclass(frozen=True)
class CostModel:
    """Unit costs and asset lives; every default is cited in docs/grid_and_cost.md."""

    # Price of one GPU: the H100-SXM catalogue entry's unless given (for_gpu gives the
    # chosen GPU's); dcsim/data/gpus/h100-sxm.yaml: $25,000-30,000 (Raymond James estimate
    # reported by Barron's and Tom's Hardware, Aug 2023; CNBC, Apr 2023 reports $25k-40k).
    gpu_usd: float = GPUS.packaged["H100-SXM"].price_usd
    # An 8-GPU HGX H100 server costs ~$310-320k with eight 400G NICs (Thinkmate quotation,
    # Aug 2024); minus 8 GPUs at $27.5k leaves ~$90k for CPUs, memory, NVSwitch board,
    # NICs, storage and chassis.
    server_usd: float = 90_000.0
    # Scale-out fabric (switches, optics, cables) per GPU: ~$4k at 1k-GPU scale with $36k
    # 64-port 400G InfiniBand switches (public 2024 cluster cost sheet); an estimate.
    network_per_gpu_usd: float = 4_000.0
    # The building, excluding cooling (docs/grid_and_cost.md, "Space and building"): US builds
    # run ~$8-12 M per MW all-in (Turner & Townsend Data Centre Construction Cost Index 2023;
    # Cushman & Wakefield Data Center Development Cost Guide 2025: $9.3-15.0 M, average $11.7 M
    # per MW of critical load). Split into what follows the floor and what follows the power:
    # Shell, core and support fit-out per m^2 of gross building area (dcsim.facility.space): a
    # powered base building cost $125-200 per ft^2 in 2018 (HFF, "Data Centers: Expensive to
    # Build", May 2018), ~$170-270 after the rise in building costs since (Cushman & Wakefield
    # 2025, ENR indices); ~$230/ft^2 taken. An estimate.
    building_usd_per_m2: float = 2500.0
    # Electrical plant (utility yard, switchgear, UPS, generators, PDUs), white-space fit-out and
    # soft costs per W of critical IT: chosen so that the default scenario's building costs what
    # the former all-per-W $8/W gave (+0.2 %); Cushman & Wakefield 2025 put the parts priced per
    # MW (critical capacity 53 %, white-space build-out 10 %) at 63 % of $11.7 M = $7.4 M per MW.
    electrical_usd_per_w: float = 7.4
    cooling_usd_per_w: dict[str, float] = field(default_factory=_cooling_defaults)
    # Lives: hyperscalers depreciate servers and network gear over 5-6 years (Microsoft FY2023
    # 10-K: 6 years; Meta 2025: 5.5 years; CoreWeave: 6 years for GPUs); buildings 15-20 years
    # and mechanical/electrical plant ~15 years.
    gpu_life_years: float = 5.0
    server_life_years: float = 5.0
    network_life_years: float = 5.0
    facility_life_years: float = 15.0
    cooling_life_years: float = 15.0
    # Annual cost of capital (0: plain straight-line); ~0.07-0.09 is typical of infrastructure.
    cost_of_capital: float = 0.0
    # US industrial average retail price, ~8 c/kWh in 2023 (EIA Electric Power Monthly, Table 5.3).
    energy_usd_per_kwh: float = 0.08
    # Demand charge, $ per kW of peak demand per billing month (peak demand: the highest mean
    # grid draw over a demand interval, dcsim.facility.grid.peak_demand_w). 0 by default: a
    # site's tariff decides it. NREL's survey of >10,000 US tariffs (McLaren et al. 2017,
    # NREL/BR-6A20-68963) finds demand charges above $15/kW-month open to over a quarter of US
    # commercial customers and $20/kW or more in several states; examples in docs/grid_and_cost.md.
    demand_charge_usd_per_kw_month: float = 0.0
    demand_interval_s: float = DEMAND_INTERVAL_S  # the utility's demand interval (15 min, same source)

    def __post_init__(self) -> None:
        for name in ("gpu_usd", "server_usd", "network_per_gpu_usd", "building_usd_per_m2", "electrical_usd_per_w",
                     "cost_of_capital", "energy_usd_per_kwh", "demand_charge_usd_per_kw_month"):
            if getattr(self, name) < 0:
                raise ValueError(f"CostModel.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("demand_interval_s", "gpu_life_years", "server_life_years", "network_life_years", "facility_life_years",
                     "cooling_life_years"):
            if getattr(self, name) <= 0:
                raise ValueError(f"CostModel.{name} must be > 0, got {getattr(self, name)}")

    @classmethod
    def for_gpu(cls, gpu: GpuSpec, **overrides: object) -> CostModel:
        """Unit costs with ``gpu``'s own catalogue price (``overrides`` may still set ``gpu_usd``)."""
        overrides.setdefault("gpu_usd", gpu.price_usd)
        return cls(**overrides)  # type: ignore[arg-type]

    def annual_factor(self, life_years: float) -> float:
        """Share of a purchase paid per year: 1/n straight-line, or the capital recovery factor
        r / (1 - (1 + r)^-n) with a cost of capital r."""
        r = self.cost_of_capital
        return 1.0 / life_years if r == 0 else r / (1.0 - (1.0 + r) ** -life_years)

    def capex_usd(self, gpus: int, servers: int, it_capacity_w: float, cooling_technology: str, *,
                  floor_area_m2: float) -> dict[str, float]:
        """Purchase price of each asset class (not amortised); ``floor_area_m2`` is the gross
        building area (``dcsim.facility.space.FloorArea.gross_m2``)."""
        if cooling_technology not in self.cooling_usd_per_w:
            raise ValueError(f"no cooling cost for {cooling_technology!r}; known: {sorted(self.cooling_usd_per_w)}")
        if gpus < 0 or servers < 0 or it_capacity_w < 0 or floor_area_m2 < 0:
            raise ValueError("gpus, servers, it_capacity_w and floor_area_m2 must be >= 0")
        return {
            "gpu": gpus * self.gpu_usd,
            "server": servers * self.server_usd,
            "network": gpus * self.network_per_gpu_usd,
            "building": floor_area_m2 * self.building_usd_per_m2,
            "electrical": it_capacity_w * self.electrical_usd_per_w,
            "cooling": it_capacity_w * self.cooling_usd_per_w[cooling_technology],
        }

    def capex_breakdown_per_s(self, gpus: int, servers: int, it_capacity_w: float, cooling_technology: str, *,
                              floor_area_m2: float) -> dict[str, float]:
        """Amortised capital cost per second of each asset class ($/s); the building and its
        electrical plant over ``facility_life_years``."""
        lives = {"gpu": self.gpu_life_years, "server": self.server_life_years, "network": self.network_life_years,
                 "building": self.facility_life_years, "electrical": self.facility_life_years,
                 "cooling": self.cooling_life_years}
        capex = self.capex_usd(gpus, servers, it_capacity_w, cooling_technology, floor_area_m2=floor_area_m2)
        return {k: v * self.annual_factor(lives[k]) / YEAR_S for k, v in capex.items()}

    def capex_per_s(self, gpus: int, servers: int, it_capacity_w: float, cooling_technology: str, *,
                    floor_area_m2: float) -> float:
        """Total amortised capital cost per second ($/s) of a facility with ``gpus`` GPUs in
        ``servers`` servers, ``it_capacity_w`` of critical IT capacity, a cooling technology
        and ``floor_area_m2`` of gross building area."""
        return sum(self.capex_breakdown_per_s(gpus, servers, it_capacity_w, cooling_technology,
                                              floor_area_m2=floor_area_m2).values())

    def energy_cost_usd(self, energy_j: float) -> float:
        """Cost of facility energy at the flat default price (use dcsim.facility.grid for TOU or hourly)."""
        return energy_j / KWH_J * self.energy_usd_per_kwh

    def demand_charge_usd(self, peak_demand_w: float, duration_s: float) -> float:
        """The demand charge of a run of ``duration_s`` whose peak demand is ``peak_demand_w``:
        peak kW x $/kW-month x the run's share of a billing month (``duration_s / MONTH_S``),
        so a month-long run pays one month's charge and a day pays 1/30.4 of it."""
        if peak_demand_w < 0 or duration_s < 0:
            raise ValueError(f"peak_demand_w and duration_s must be >= 0, got {peak_demand_w}, {duration_s}")
        return peak_demand_w / 1e3 * self.demand_charge_usd_per_kw_month * duration_s / MONTH_S

    def cost_breakdown(self, duration_s: float, energy_cost_usd: float, gpus: int, servers: int,
                       it_capacity_w: float, cooling_technology: str, *, floor_area_m2: float,
                       peak_demand_w: float = 0.0) -> dict[str, float]:
        """Dollars over a run of ``duration_s``: amortised capital per asset class
        (``gpu_usd``, ``server_usd``, ``network_usd``, ``building_usd``, ``electrical_usd``,
        ``cooling_usd``), their sum ``capex_usd``, ``energy_usd``, ``demand_usd`` (the demand
        charge of ``peak_demand_w``, prorated) and ``total_usd``."""
        if duration_s < 0:
            raise ValueError(f"duration_s must be >= 0, got {duration_s}")
        out = {f"{k}_usd": v * duration_s
               for k, v in self.capex_breakdown_per_s(gpus, servers, it_capacity_w, cooling_technology,
                                                      floor_area_m2=floor_area_m2).items()}
        out["capex_usd"] = sum(out.values())
        out["energy_usd"] = float(energy_cost_usd)
        out["demand_usd"] = self.demand_charge_usd(peak_demand_w, duration_s)
        out["total_usd"] = out["capex_usd"] + out["energy_usd"] + out["demand_usd"]
        return out


def cost_per_gpu_hour(total_usd: float, gpus: int, duration_s: float) -> float:
    """Dollars per GPU-hour of installed capacity (busy or not)."""
    if gpus <= 0 or duration_s <= 0:
        raise ValueError("cost per GPU-hour needs gpus > 0 and duration_s > 0")
    return total_usd / (gpus * duration_s / HOUR_S)


def cost_per_million_tokens(total_usd: float, tokens: float) -> float:
    """Dollars per million tokens served or trained (NaN when no tokens)."""
    return total_usd / tokens * 1e6 if tokens > 0 else float("nan")
