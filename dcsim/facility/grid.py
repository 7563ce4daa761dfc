"""The grid: hourly carbon intensity, electricity price, on-site renewables, demand response.

Every time-varying grid signal here is a step function of simulated time, constant
within each hour of its own series (``HourlySteps``): an hourly average is what the
sources publish, and a step function can be integrated exactly. So the carbon and cost
of a facility power series that is piecewise constant (one value per control interval)
are exact sums, whatever the intervals' lengths and however they straddle hour
boundaries (``integrate_energy``).

Time alignment. Simulated ``t = 0`` is ``start_hour`` of ``start_day_of_year`` in the
*local standard time* of the climate (EPW files are in local standard time, no daylight
saving). The EIA-930 carbon files are in UTC, so a ``CarbonIntensity`` is built with the
climate's ``utc_offset_h`` (local = UTC + offset, e.g. -5 for Virginia) and reads row
``local time - offset``. Pass ``climate.utc_offset_h`` to line the two up; by default
each grid region uses its own standard-time offset (PJM -5, CISO -8, ERCO -6).
Electricity prices (time-of-use or hourly file) are in the same local standard time.

Carbon data: US EIA-930 hourly generation by fuel and average carbon intensity
(``avg_CI``, gCO2/kWh) for 2022, PJM, CISO and ERCO, as prepared by SustainDC
(HewlettPackard/dc-rl @ a92b4755, data/CarbonIntensity/; Sarkar et al.). Each row's
timestamp is taken as the start of the hour its values average (assumption: the
dc-rl files do not say; CISO's solar output peaks in the 20:00 UTC row, i.e. around
noon Pacific standard time, which is consistent to within the hour). Missing hours
(23 in PJM on 13 March 2022, 3 in CISO) are filled by linear interpolation.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from dcsim.core.units import DAY_S, HOUR_S, KWH_J

# Shipped EIA-930 files (dcsim/data/grid/) and each region's standard-time UTC offset (h).
GRID_REGIONS = {
    "pjm": ("PJM_2022_hourly.csv.gz", -5.0),  # PJM Interconnection (incl. northern Virginia), Eastern
    "ciso": ("CISO_2022_hourly.csv.gz", -8.0),  # California ISO, Pacific
    "erco": ("ERCO_2022_hourly.csv.gz", -6.0),  # ERCOT (Texas), Central
}
FUELS = ("WND", "SUN", "WAT", "OIL", "NG", "COL", "NUC", "OTH")  # EIA-930 fuel codes, MWh per hour


def _seconds_into_year(start_day_of_year: int, start_hour: float) -> float:
    if not 1 <= start_day_of_year <= 365:
        raise ValueError(f"start_day_of_year must be in [1, 365], got {start_day_of_year}")
    return (start_day_of_year - 1) * DAY_S + start_hour * HOUR_S


@dataclass(frozen=True)
class HourlySteps:
    """A periodic step function of simulated time: ``values[k]`` holds over hour ``k`` of
    the series, the series repeats every ``len(values)`` hours, and simulated ``t = 0`` is
    ``offset_s`` seconds after the start of hour 0."""

    values: np.ndarray
    offset_s: float = 0.0
    _cum: np.ndarray = field(init=False, repr=False, compare=False)  # cumulative hourly sums, set in __post_init__

    def __post_init__(self) -> None:
        v = np.asarray(self.values, dtype=float)
        if v.ndim != 1 or len(v) == 0 or not np.all(np.isfinite(v)):
            raise ValueError("an hourly series needs at least one finite value")
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "_cum", np.concatenate(([0.0], np.cumsum(v))))

    def at(self, t_s: float) -> float:
        """The value in force at simulated time ``t_s``."""
        k = int(np.floor((self.offset_s + t_s) / HOUR_S)) % len(self.values)
        return float(self.values[k])

    def _antiderivative(self, t_s) -> np.ndarray:
        x = self.offset_s + np.asarray(t_s, dtype=float)
        n = len(self.values)
        periods = np.floor(x / (n * HOUR_S))
        r = x - periods * n * HOUR_S
        k = np.clip(np.floor(r / HOUR_S).astype(int), 0, n - 1)
        return (periods * self._cum[n] + self._cum[k]) * HOUR_S + (r - k * HOUR_S) * self.values[k]

    def integral(self, t0_s, t1_s) -> np.ndarray:
        """Exact integral of the value over [t0_s, t1_s] (value x seconds); element-wise on arrays."""
        return self._antiderivative(t1_s) - self._antiderivative(t0_s)

    def _antiderivative_at(self, t_s: float) -> float:
        """:meth:`_antiderivative` of one time, in scalars (the same operations: the same value;
        the control tick asks twice per interval, where numpy's overhead is most of the cost)."""
        x = self.offset_s + t_s
        n = len(self.values)
        periods = float(math.floor(x / (n * HOUR_S)))
        r = x - periods * n * HOUR_S
        k = min(max(math.floor(r / HOUR_S), 0), n - 1)
        return float((periods * self._cum[n] + self._cum[k]) * HOUR_S + (r - k * HOUR_S) * self.values[k])

    def mean(self, t0_s: float, t1_s: float) -> float:
        """Time-average over [t0_s, t1_s]."""
        if not t1_s > t0_s:
            return self.at(t0_s)
        return (self._antiderivative_at(t1_s) - self._antiderivative_at(t0_s)) / (t1_s - t0_s)


def _open_text(path: str | Path) -> str:
    raw = Path(path).read_bytes()
    return (gzip.decompress(raw) if str(path).endswith(".gz") else raw).decode("utf-8")


def _interpolate_gaps(values: np.ndarray, what: str) -> np.ndarray:
    bad = ~np.isfinite(values)
    if not bad.any():
        return values
    if bad.all():
        raise ValueError(f"no valid values of {what}")
    h = np.arange(len(values))
    return np.interp(h, h[~bad], values[~bad], period=len(values))


def read_eia_hourly(text: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Hourly ``avg_CI`` (gCO2/kWh) and generation by fuel (MWh) from an EIA-930 file in the
    SustainDC layout (``timestamp,WND,SUN,WAT,OIL,NG,COL,NUC,OTH,avg_CI``, UTC, one row per
    hour from 1 January 00:00); empty cells are filled by interpolation."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or "avg_CI" not in rows[0]:
        raise ValueError("an EIA hourly file needs a header with an avg_CI column")

    def column(name: str) -> np.ndarray:
        return _interpolate_gaps(np.array([float(r[name]) if r[name] != "" else np.nan for r in rows]), name)

    mix = {f: column(f) for f in FUELS if f in rows[0]}
    return column("avg_CI"), mix


@functools.cache
def _shipped_eia_hourly(region: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``read_eia_hourly`` of a shipped region, parsed once (a sweep builds it for every
    point); its arrays are read-only, as every CarbonIntensity built from it shares them."""
    file = GRID_REGIONS[region][0]
    ci, mix = read_eia_hourly(gzip.decompress(resources.files("dcsim.data").joinpath("grid", file).read_bytes())
                              .decode("utf-8"))
    for values in (ci, *mix.values()):
        values.flags.writeable = False
    return ci, mix


@dataclass(frozen=True)
class CarbonIntensity:
    """Average carbon intensity of grid electricity (gCO2e/kWh) over simulated time, and the
    generation mix behind it when known."""

    name: str
    series: HourlySteps  # gCO2/kWh, hours of the year in UTC (or one flat value)
    mix_mwh: dict[str, np.ndarray] = field(default_factory=dict)  # fuel -> MWh per hour, same hours

    @classmethod
    def flat(cls, g_per_kwh: float) -> CarbonIntensity:
        """A constant intensity."""
        if g_per_kwh < 0:
            raise ValueError(f"carbon intensity must be >= 0 gCO2/kWh, got {g_per_kwh}")
        return cls(f"flat {g_per_kwh:g} g/kWh", HourlySteps(np.array([float(g_per_kwh)])))

    @classmethod
    def from_eia_csv(cls, path: str | Path, start_day_of_year: int, start_hour: float,
                     utc_offset_h: float, name: str | None = None) -> CarbonIntensity:
        """Hourly intensity from an EIA-930 file (see ``read_eia_hourly``), with simulated
        ``t = 0`` at ``start_hour`` local standard time (``utc_offset_h`` from UTC) of
        ``start_day_of_year``."""
        return cls._from_hourly(*read_eia_hourly(_open_text(path)), name or Path(path).name, start_day_of_year,
                                start_hour, utc_offset_h)

    @classmethod
    def named(cls, region: str, start_day_of_year: int, start_hour: float,
              utc_offset_h: float | None = None) -> CarbonIntensity:
        """A shipped EIA-930 2022 region: ``pjm``, ``ciso`` or ``erco``; ``utc_offset_h``
        defaults to the region's own standard time (pass the climate's to align with it)."""
        if region not in GRID_REGIONS:
            raise ValueError(f"unknown grid region {region!r}; shipped regions: {sorted(GRID_REGIONS)}")
        offset = GRID_REGIONS[region][1] if utc_offset_h is None else utc_offset_h
        return cls._from_hourly(*_shipped_eia_hourly(region), region, start_day_of_year, start_hour, offset)

    @classmethod
    def _from_hourly(cls, ci: np.ndarray, mix: dict[str, np.ndarray], name: str, start_day_of_year: int,
                     start_hour: float, utc_offset_h: float) -> CarbonIntensity:
        # simulated t = 0 is local standard time; UTC = local - offset
        offset_s = _seconds_into_year(start_day_of_year, start_hour) - utc_offset_h * HOUR_S
        return cls(name, HourlySteps(ci, offset_s), mix)

    def intensity_g_per_kwh(self, t_s: float) -> float:
        """Grid carbon intensity (gCO2e/kWh) at simulated time ``t_s``."""
        return self.series.at(t_s)

    def generation_mix_mwh(self, t_s: float) -> dict[str, float]:
        """Generation by fuel (MWh in that hour) at simulated time ``t_s``; empty if unknown."""
        if not self.mix_mwh:
            return {}
        n = len(self.series.values)
        k = int(np.floor((self.series.offset_s + t_s) / HOUR_S)) % n
        return {fuel: float(v[k]) for fuel, v in self.mix_mwh.items()}

    @property
    def annual_mean_g_per_kwh(self) -> float:
        """Unweighted mean of the hourly intensities."""
        return float(self.series.values.mean())


@dataclass(frozen=True)
class ElectricityPrice:
    """Price of grid electricity ($/kWh) over simulated time: flat, time-of-use or hourly."""

    name: str
    series: HourlySteps  # $/kWh, hours in local standard time

    @classmethod
    def flat(cls, usd_per_kwh: float) -> ElectricityPrice:
        """One price at all times."""
        if usd_per_kwh < 0:
            raise ValueError(f"price must be >= 0 $/kWh, got {usd_per_kwh}")
        return cls(f"flat {usd_per_kwh:g} $/kWh", HourlySteps(np.array([float(usd_per_kwh)])))

    @classmethod
    def time_of_use(cls, peak_usd_per_kwh: float, off_peak_usd_per_kwh: float, start_hour: float,
                    peak_start_hour: int = 16, peak_end_hour: int = 21) -> ElectricityPrice:
        """A daily tariff: the peak price from ``peak_start_hour`` to ``peak_end_hour``
        (local standard time, whole hours, end exclusive; may wrap past midnight), the
        off-peak price otherwise, every day. Simulated ``t = 0`` is ``start_hour``.
        The 16-21 h default is the evening peak of California's TOU tariffs (e.g. PG&E E-19/B-19)."""
        if not (0 <= peak_start_hour < 24 and 0 <= peak_end_hour <= 24 and peak_start_hour != peak_end_hour):
            raise ValueError(f"peak hours must be distinct whole hours in [0, 24], got {peak_start_hour}-{peak_end_hour}")
        if min(peak_usd_per_kwh, off_peak_usd_per_kwh) < 0:
            raise ValueError("prices must be >= 0 $/kWh")
        hours = np.arange(24)
        if peak_start_hour < peak_end_hour:
            peak = (hours >= peak_start_hour) & (hours < peak_end_hour)
        else:
            peak = (hours >= peak_start_hour) | (hours < peak_end_hour)
        values = np.where(peak, float(peak_usd_per_kwh), float(off_peak_usd_per_kwh))
        return cls(f"TOU {peak_start_hour}-{peak_end_hour} h", HourlySteps(values, start_hour * HOUR_S))

    @classmethod
    def from_csv(cls, path: str | Path, start_day_of_year: int, start_hour: float) -> ElectricityPrice:
        """Hourly prices from a CSV file with a header ``hour,usd_per_kwh``: ``hour`` counts
        hours from 1 January 00:00 local standard time (0, 1, 2, ... without gaps), the price
        holds for that hour, and the series repeats after its last row (8760 rows: a year;
        24 rows: a day, in which case the day of year does not matter)."""
        rows = list(csv.DictReader(io.StringIO(_open_text(path))))
        if not rows or set(rows[0]) != {"hour", "usd_per_kwh"}:
            raise ValueError(f"{path}: a price file needs the header 'hour,usd_per_kwh'")
        hours = [int(r["hour"]) for r in rows]
        if hours != list(range(len(rows))):
            raise ValueError(f"{path}: hours must run 0, 1, 2, ... without gaps")
        values = np.array([float(r["usd_per_kwh"]) for r in rows])
        if np.any(values < 0):
            raise ValueError(f"{path}: prices must be >= 0 $/kWh")
        return cls(Path(path).name, HourlySteps(values, _seconds_into_year(start_day_of_year, start_hour)))

    def price_per_kwh(self, t_s: float) -> float:
        """Electricity price ($/kWh) at simulated time ``t_s``."""
        return self.series.at(t_s)


@dataclass(frozen=True)
class RenewableShare:
    """The fraction of facility energy supplied carbon-free on site (or by a matched
    contract); that share is counted at zero carbon, the rest at grid intensity."""

    fraction: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"renewable share must be in [0, 1], got {self.fraction}")


def carbon_kg(carbon: CarbonIntensity, t_start_s: float, duration_s: float, energy_j: float,
              renewable: RenewableShare | None = None) -> float:
    """kg CO2e of ``energy_j`` of facility energy drawn evenly over
    [t_start_s, t_start_s + duration_s], net of the renewable share."""
    if duration_s <= 0:
        return 0.0
    mean_g_per_kwh = carbon.series.mean(t_start_s, t_start_s + duration_s)
    share = renewable.fraction if renewable else 0.0
    return energy_j / KWH_J * mean_g_per_kwh * (1.0 - share) / 1000.0


@dataclass(frozen=True)
class EnergyAccount:
    """Energy, carbon and cost of a piecewise-constant power series, per interval and in total."""

    energy_j: np.ndarray
    carbon_kg: np.ndarray
    cost_usd: np.ndarray

    @property
    def total_energy_j(self) -> float:
        return float(self.energy_j.sum())

    @property
    def total_carbon_kg(self) -> float:
        return float(self.carbon_kg.sum())

    @property
    def total_cost_usd(self) -> float:
        return float(self.cost_usd.sum())

    @property
    def carbon_g_per_kwh(self) -> float:
        """Energy-weighted mean intensity actually paid (after the renewable share)."""
        e = self.total_energy_j
        return self.total_carbon_kg * 1000.0 / (e / KWH_J) if e > 0 else float("nan")


def integrate_energy(t_start_s: Sequence[float], duration_s: Sequence[float], power_w: Sequence[float],
                     carbon: CarbonIntensity | None = None, price: ElectricityPrice | None = None,
                     renewable: RenewableShare | None = None) -> EnergyAccount:
    """Exact energy (J), carbon (kg CO2e) and cost ($) of a facility drawing ``power_w[i]``
    over [t_start_s[i], t_start_s[i] + duration_s[i]]: since power is constant on each
    interval and intensity and price are hourly steps, each interval's carbon is
    power x integral of intensity over the interval, split exactly at hour boundaries.
    Missing ``carbon`` or ``price`` gives zeros for that column."""
    t0 = np.asarray(t_start_s, dtype=float)
    d = np.asarray(duration_s, dtype=float)
    p = np.asarray(power_w, dtype=float)
    if not (t0.shape == d.shape == p.shape) or t0.ndim != 1:
        raise ValueError("t_start_s, duration_s and power_w must be 1-D arrays of one length")
    if np.any(d < 0):
        raise ValueError("durations must be >= 0")
    energy = p * d
    share = renewable.fraction if renewable else 0.0
    # W x (g/kWh x s) = J x g/kWh; / KWH_J -> g; / 1000 -> kg
    co2 = p * carbon.series.integral(t0, t0 + d) / KWH_J / 1000.0 * (1.0 - share) if carbon else np.zeros_like(p)
    cost = p * price.series.integral(t0, t0 + d) / KWH_J if price else np.zeros_like(p)
    return EnergyAccount(energy, co2, cost)


# The utility's demand interval: demand is the mean power over fixed 15-minute intervals, the
# interval of most US commercial and industrial tariffs ("the highest average electricity usage
# occurring within a defined time interval (usually 15 minutes) during a billing period": NREL,
# McLaren et al. 2017, "Identifying Potential Markets for Behind-the-Meter Battery Energy Storage:
# A Survey of U.S. Demand Charges", NREL/BR-6A20-68963).
DEMAND_INTERVAL_S = 900.0


def peak_demand_w(t_start_s: Sequence[float], duration_s: Sequence[float], power_w: Sequence[float],
                  demand_interval_s: float = DEMAND_INTERVAL_S) -> float:
    """The highest mean power over the utility's fixed demand intervals [k I, (k + 1) I)
    (simulated time, ``I = demand_interval_s``) of a draw of ``power_w[i]`` over
    [t_start_s[i], t_start_s[i] + duration_s[i]]: exact for a piecewise-constant draw, as the
    energy in each demand interval is integrated across the rows it straddles. An interval
    the run covers only in part (the first or the last) is averaged over the part covered,
    the demand it would register were the load to go on; time outside every row counts as
    zero draw. 0.0 for an empty series."""
    if not demand_interval_s > 0:
        raise ValueError(f"demand_interval_s must be > 0, got {demand_interval_s}")
    t0 = np.asarray(t_start_s, dtype=float)
    d = np.asarray(duration_s, dtype=float)
    p = np.asarray(power_w, dtype=float)
    if not (t0.shape == d.shape == p.shape) or t0.ndim != 1:
        raise ValueError("t_start_s, duration_s and power_w must be 1-D arrays of one length")
    keep = d > 0
    t0, d, p = t0[keep], d[keep], p[keep]
    if not len(t0):
        return 0.0
    order = np.argsort(t0, kind="stable")
    t0, d, p = t0[order], d[order], p[order]
    t1 = t0 + d
    # cumulative energy at every row edge (start, end, start, end, ...): piecewise linear in t
    e_end = np.cumsum(p * d)
    e_start = e_end - p * d
    xs = np.column_stack((t0, t1)).ravel()
    es = np.column_stack((e_start, e_end)).ravel()
    first, last = float(t0[0]), float(t1.max())
    k = np.arange(np.floor(first / demand_interval_s), np.ceil(last / demand_interval_s) + 1)
    edges = np.clip(k * demand_interval_s, first, last)
    energy = np.diff(np.interp(edges, xs, es))
    covered = np.diff(edges)
    ok = covered > 0
    return float((energy[ok] / covered[ok]).max())


class DemandMeter:
    """The utility's demand meter, fed as the run goes: ``add`` each interval of constant grid
    draw, in time order; ``peak_w`` is then ``peak_demand_w`` of the intervals added (time
    between them not counted). Holds one demand interval's energy and the peak so far: O(1)
    memory however long the run."""

    def __init__(self, demand_interval_s: float = DEMAND_INTERVAL_S) -> None:
        if not demand_interval_s > 0:
            raise ValueError(f"demand_interval_s must be > 0, got {demand_interval_s}")
        self.demand_interval_s = demand_interval_s
        self._k: int | None = None  # the demand interval being filled
        self._energy_j = 0.0
        self._covered_s = 0.0
        self._peak_w = 0.0

    def add(self, t_start_s: float, duration_s: float, power_w: float) -> None:
        """A draw of ``power_w`` over [t_start_s, t_start_s + duration_s]."""
        size = self.demand_interval_s
        t, end = t_start_s, t_start_s + duration_s
        while t < end:
            k = math.floor(t / size)
            if (k + 1) * size <= t:  # rounding at an edge
                k += 1
            edge = min((k + 1) * size, end)
            if k != self._k:
                self._peak_w = self.peak_w
                self._k, self._energy_j, self._covered_s = k, 0.0, 0.0
            self._energy_j += power_w * (edge - t)
            self._covered_s += edge - t
            t = edge

    @property
    def peak_w(self) -> float:
        """The highest demand-interval mean so far (the interval being filled over its part covered)."""
        now = self._energy_j / self._covered_s if self._covered_s > 0 else 0.0
        return max(self._peak_w, now)


@dataclass(frozen=True)
class DemandResponseEvent:
    """A request from the grid to hold facility power at or under a limit for a window;
    the limit is in watts or as a fraction of the facility's power budget."""

    start_s: float
    duration_s: float
    limit_w: float | None = None
    limit_fraction: float | None = None
    # "window" (a planned limit) or "curtailment" (a utility's call, announced ``notice_s`` ahead)
    kind: str = "window"
    notice_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("window", "curtailment"):
            raise ValueError(f"a demand-response event is a window or a curtailment, got {self.kind!r}")
        if self.notice_s < 0:
            raise ValueError(f"notice_s must be >= 0, got {self.notice_s}")
        if self.duration_s <= 0:
            raise ValueError(f"a demand-response event needs a positive duration, got {self.duration_s}")
        if (self.limit_w is None) == (self.limit_fraction is None):
            raise ValueError("a demand-response event needs exactly one of limit_w and limit_fraction")
        if self.limit_w is not None and self.limit_w < 0:
            raise ValueError(f"limit_w must be >= 0, got {self.limit_w}")
        if self.limit_fraction is not None and not 0.0 <= self.limit_fraction <= 1.0:
            raise ValueError(f"limit_fraction must be in [0, 1], got {self.limit_fraction}")

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


SIGNALS = ("price", "carbon")  # grid signals a SignalLimit can follow


@dataclass(frozen=True)
class SignalLimit:
    """An IT power limit in force while a grid signal is strictly above a threshold: the
    electricity price ($/kWh, ``ElectricityPrice.series``) or the carbon intensity (gCO2/kWh,
    ``CarbonIntensity.series``). Both are hourly steps, so the limit switches only at the
    series' hour edges, and it holds over exactly the hours whose value is above ``threshold``."""

    signal: str  # "price" or "carbon", for its events and errors
    series: HourlySteps
    threshold: float
    it_limit_w: float

    def __post_init__(self) -> None:
        if self.signal not in SIGNALS:
            raise ValueError(f"a signal limit follows one of {SIGNALS}, got {self.signal!r}")
        if not (math.isfinite(self.threshold) and self.threshold >= 0):
            raise ValueError(f"threshold must be a finite value >= 0, got {self.threshold}")
        if not self.it_limit_w > 0:
            raise ValueError(f"it_limit_w must be > 0, got {self.it_limit_w}")

    def active(self, t_s: float) -> bool:
        """Whether the signal is above the threshold at ``t_s``."""
        return self.series.at(t_s) > self.threshold

    def next_change_s(self, t_s: float) -> float | None:
        """The first hour edge after ``t_s`` at which the limit switches on or off, or None if
        it never does (a series that stays on one side of the threshold)."""
        n = len(self.series.values)
        j = math.floor((self.series.offset_s + t_s) / HOUR_S) + 1 + np.arange(n)  # one period of edges
        flips = np.flatnonzero((self.series.values[j % n] > self.threshold) != self.active(t_s))
        return float(j[flips[0]] * HOUR_S - self.series.offset_s) if flips.size else None

    def change_times_s(self, until_s: float) -> list[float]:
        """The times in (0, until_s] at which the limit switches on or off, in order."""
        out: list[float] = []
        t = self.next_change_s(0.0)
        while t is not None and t <= until_s:
            out.append(t)
            t = self.next_change_s(t)
        return out


@dataclass(frozen=True)
class DemandResponse:
    """Demand-response events over simulated time; ``budget_w`` (the facility's power
    budget) turns fractional limits into watts. Overlapping events: the lowest limit wins.
    ``signal_limits`` are IT power limits that follow the grid's price or carbon signal."""

    events: tuple[DemandResponseEvent, ...] = ()
    budget_w: float | None = None
    signal_limits: tuple[SignalLimit, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", tuple(sorted(self.events, key=lambda e: e.start_s)))
        if self.budget_w is None and any(e.limit_fraction is not None for e in self.events):
            raise ValueError("fractional demand-response limits need the facility budget_w")

    def _limit(self, e: DemandResponseEvent) -> float:
        if e.limit_w is not None:
            return e.limit_w
        assert e.limit_fraction is not None and self.budget_w is not None  # checked in __post_init__ / the event
        return e.limit_fraction * self.budget_w

    def limit_w(self, t_s: float) -> float | None:
        """Facility power limit (W) in force at ``t_s`` (events are half-open [start, end)),
        or None when no event is active."""
        active = [self._limit(e) for e in self.events if e.start_s <= t_s < e.end_s]
        return min(active) if active else None

    def it_limit_w(self, t_s: float) -> float | None:
        """IT power limit (W) of the signal limits active at ``t_s`` (the lowest), or None."""
        active = [lim.it_limit_w for lim in self.signal_limits if lim.active(t_s)]
        return min(active) if active else None

    def signal_change_times_s(self, until_s: float) -> list[float]:
        """Every time in (0, until_s] at which a signal limit switches on or off, in order."""
        return sorted({t for lim in self.signal_limits for t in lim.change_times_s(until_s)})

    def next_change_s(self, t_s: float) -> float | None:
        """The first event start or end strictly after ``t_s`` (when to look again), or None."""
        times = [x for e in self.events for x in (e.start_s, e.end_s) if x > t_s]
        return min(times) if times else None
