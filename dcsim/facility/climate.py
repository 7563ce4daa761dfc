"""Outdoor weather from EnergyPlus EPW files: dry bulb, humidity and wet bulb.

An EPW file has 8 header lines, then one line per hour of a typical year; field 6
is dry-bulb temperature (C), 7 dew point (C), 8 relative humidity (%), 9 station
pressure (Pa). Hour ``h`` (1-24) covers the hour ending at ``h``; we place its value
at the end of that hour and interpolate linearly in between, wrapping from
31 December back to 1 January.

Times in an EPW file are local standard time (no daylight saving); the first header
line gives the offset from UTC, which ``Climate.utc_offset_h`` keeps so that hourly
UTC data (grid carbon) can be aligned with the weather (see ``dcsim.facility.grid``).

Wet bulb is not in the files; ``wet_bulb_c`` derives it from dry bulb, relative
humidity and station pressure with the psychrometric equation of ASHRAE Handbook -
Fundamentals (2017), chapter 1, eqs. 33 and 35, and the Hyland-Wexler saturation
pressure (eqs. 5 and 6), solved by bisection.

The default climate, embedded in the package, is the TMYx typical year of Leesburg,
Virginia (next to Ashburn), from Climate.OneBuilding.org; three more are shipped by
name (``CLIMATES``) - see DATA_SOURCES.md.
"""

from __future__ import annotations

import functools
import gzip
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from dcsim.core.units import DAY_S, HOUR_S, ZERO_C_K

DEFAULT_EPW = "USA_VA_Leesburg.Exec.epw.gz"
HOURS_PER_YEAR = 8760

# Named typical-year climates shipped in dcsim/data/climate/ (sources in DATA_SOURCES.md).
CLIMATES = {
    "leesburg_va": "USA_VA_Leesburg.Exec.epw.gz",  # Ashburn data-centre cluster, PJM grid
    "phoenix_az": "USA_AZ_Phoenix-Sky.Harbor.epw.gz",  # hot and dry
    "seattle_wa": "USA_WA_Seattle-Tacoma.epw.gz",  # mild and humid
    "piedmont_it": "ITA_Piedmont_PVGIS-TMY_45N_8E.epw.gz",  # northern Italy, PVGIS-ERA5
}

# The header of the PVGIS file says UTC+1, but PVGIS states that its TMY time stamps are
# UTC, and the file's mean irradiance peaks in hour 12 (11-12 h), as it does in UTC at
# 8 E (solar noon ~11:28 UTC) and not in CET (~12:28). We trust the data over the header.
_UTC_OFFSET_OVERRIDE_H = {"ITA_Piedmont_PVGIS-TMY_45N_8E.epw.gz": 0.0}

# EPW "missing" sentinels per field (EnergyPlus Auxiliary Programs, "EnergyPlus Weather File Data Dictionary").
_MISSING = {6: 99.9, 7: 99.9, 8: 999.0, 9: 999999.0}


def read_epw_dry_bulb_c(text: str) -> np.ndarray:
    """Hourly dry-bulb temperatures (C) of an EPW file's text."""
    return read_epw_fields(text)["dry_bulb_c"]


def read_epw_fields(text: str) -> dict[str, np.ndarray]:
    """Hourly dry bulb (C), dew point (C), relative humidity (%) and station pressure (Pa)
    of an EPW file's text; missing values (EPW sentinels) are filled by linear
    interpolation between the nearest valid hours."""
    lines = [line for line in text.splitlines()[8:] if line.strip()]
    if len(lines) != HOURS_PER_YEAR:
        raise ValueError(f"an EPW file has {HOURS_PER_YEAR} hourly rows, this one has {len(lines)}")
    rows = [line.split(",") for line in lines]
    out = {}
    for field, name in ((6, "dry_bulb_c"), (7, "dew_point_c"), (8, "rel_humidity_pct"), (9, "pressure_pa")):
        values = np.array([float(r[field]) for r in rows])
        out[name] = _fill_missing(values, values >= _MISSING[field], name)
    out["rel_humidity_pct"] = np.clip(out["rel_humidity_pct"], 0.0, 100.0)
    return out


def read_epw_location(text: str) -> tuple[str, float]:
    """Place (city, region, country) and UTC offset in hours from an EPW LOCATION line."""
    f = text.splitlines()[0].split(",")
    return ", ".join(x for x in (f[1], f[2], f[3]) if x and x not in ("-", "unknown")), float(f[8])


def _fill_missing(values: np.ndarray, missing: np.ndarray, name: str) -> np.ndarray:
    if not missing.any():
        return values
    if missing.all():
        raise ValueError(f"the EPW file has no valid {name} values")
    hours = np.arange(len(values))
    good = ~missing
    return np.interp(hours, hours[good], values[good], period=len(values))


def load_epw_text(path: str | None) -> tuple[str, str]:
    """Text and name of an EPW file: ``None`` is the embedded default, a key of ``CLIMATES``
    a shipped climate, anything else a path (``.gz`` is read compressed)."""
    if path is None or path in CLIMATES:
        file = DEFAULT_EPW if path is None else CLIMATES[path]
        data = resources.files("dcsim.data").joinpath("climate", file).read_bytes()
        return gzip.decompress(data).decode("latin-1"), file
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file, and not a shipped climate: one of {sorted(CLIMATES)}")
    raw = p.read_bytes()
    if p.suffix == ".gz":
        raw = gzip.decompress(raw)
    return raw.decode("latin-1"), p.name


# --- psychrometrics -------------------------------------------------------------------


def _ln_saturation_water(t, log):
    """ln of the saturation pressure over liquid water at ``t`` kelvin (Hyland and Wexler, eq. 6)."""
    return (-5.8002206e3 / t + 1.3914993 - 4.8640239e-2 * t + 4.1764768e-5 * t**2
            - 1.4452093e-8 * t**3 + 6.5459673 * log(t))


def _ln_saturation_ice(t, log):
    """ln of the saturation pressure over ice at ``t`` kelvin (Hyland and Wexler, eq. 5)."""
    return (-5.6745359e3 / t + 6.3925247 - 9.6778430e-3 * t + 6.2215701e-7 * t**2
            + 2.0747825e-9 * t**3 - 9.4840240e-13 * t**4 + 4.1635019 * log(t))


def saturation_pressure_pa(temp_c):
    """Saturation vapour pressure (Pa) over liquid water at or above 0 C and over ice
    below (Hyland and Wexler 1983, as in ASHRAE Fundamentals 2017, ch. 1, eqs. 5-6)."""
    if isinstance(temp_c, (int, float)):  # one value (the cooling plant, every tick): no array overhead
        t = float(temp_c) + ZERO_C_K
        return math.exp(_ln_saturation_water(t, math.log) if t >= ZERO_C_K else _ln_saturation_ice(t, math.log))
    t = np.asarray(temp_c, dtype=float) + ZERO_C_K
    return np.where(t >= ZERO_C_K, np.exp(_ln_saturation_water(t, np.log)), np.exp(_ln_saturation_ice(t, np.log)))


def humidity_ratio(vapour_pressure_pa, pressure_pa):
    """kg water per kg dry air at a vapour partial pressure (ASHRAE Fundamentals, ch. 1, eq. 20)."""
    return 0.621945 * vapour_pressure_pa / (pressure_pa - vapour_pressure_pa)


def humidity_ratio_at_wet_bulb(dry_c, wet_c, pressure_pa=101325.0):
    """Humidity ratio of air at ``dry_c`` whose wet bulb is ``wet_c`` (ASHRAE ch. 1, eqs. 33, 35)."""
    ws = humidity_ratio(saturation_pressure_pa(wet_c), pressure_pa)
    above = ((2501.0 - 2.326 * wet_c) * ws - 1.006 * (dry_c - wet_c)) / (2501.0 + 1.86 * dry_c - 4.186 * wet_c)
    below = ((2830.0 - 0.24 * wet_c) * ws - 1.006 * (dry_c - wet_c)) / (2830.0 + 1.86 * dry_c - 2.1 * wet_c)
    if isinstance(wet_c, (int, float)) and isinstance(dry_c, (int, float)):
        return above if wet_c >= 0.0 else below
    return np.where(wet_c >= 0.0, above, below)


def moist_air_enthalpy_j_per_kg(dry_c, humidity_ratio_kg_per_kg):
    """Enthalpy of moist air, J per kg of dry air, 0 at dry air at 0 C (ASHRAE Fundamentals 2017,
    ch. 1, eq. 32: h = 1.006 t + W (2501 + 1.86 t) kJ/kg)."""
    t, w = dry_c, humidity_ratio_kg_per_kg
    if not (isinstance(t, (int, float)) and isinstance(w, (int, float))):
        t, w = np.asarray(t, dtype=float), np.asarray(w, dtype=float)
    return 1e3 * (1.006 * t + w * (2501.0 + 1.86 * t))


def saturated_humidity_ratio(temp_c, pressure_pa=101325.0):
    """Humidity ratio of saturated air (over water at or above 0 C), kg per kg of dry air."""
    return humidity_ratio(saturation_pressure_pa(temp_c), pressure_pa)


def saturated_enthalpy_j_per_kg(temp_c, pressure_pa=101325.0):
    """Enthalpy of saturated air at ``temp_c``, J per kg of dry air: the water-surface state of
    Merkel's enthalpy-potential method."""
    return moist_air_enthalpy_j_per_kg(temp_c, saturated_humidity_ratio(temp_c, pressure_pa))


def latent_heat_j_per_kg(temp_c):
    """Latent heat of vaporisation of water, J/kg: 2501 - 2.37 t kJ/kg, the linear fit of the steam
    tables over 0-50 C (2.442 MJ/kg at 25 C; IAPWS-IF97 gives 2.4417)."""
    return 2.501e6 - 2370.0 * (temp_c if isinstance(temp_c, (int, float)) else np.asarray(temp_c, dtype=float))


def wet_bulb_c(dry_bulb_c, rel_humidity_pct, pressure_pa=101325.0):
    """Thermodynamic wet-bulb temperature (C) from dry bulb (C), relative humidity (%, over
    water, as EPW and WMO report it) and pressure (Pa); works on scalars and arrays.

    Solves the psychrometric equation for the wet bulb whose saturated humidity ratio,
    less the sensible-heat term, equals the air's humidity ratio; the residual is monotonic
    in the wet bulb, so 50 bisection steps between dry bulb - 60 K and dry bulb give it to
    ~1e-13 K. Never above the dry bulb; equal to it at 100 % RH.
    """
    dry = np.asarray(dry_bulb_c, dtype=float)
    rh = np.clip(np.asarray(rel_humidity_pct, dtype=float), 0.0, 100.0)
    p = np.asarray(pressure_pa, dtype=float)
    target = humidity_ratio(rh / 100.0 * saturation_pressure_pa(dry), p)
    lo = dry - 60.0
    hi = dry + 0.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        too_wet = humidity_ratio_at_wet_bulb(dry, mid, p) > target
        hi = np.where(too_wet, mid, hi)
        lo = np.where(too_wet, lo, mid)
    out = np.minimum(0.5 * (lo + hi), dry)
    return float(out) if out.ndim == 0 else out


def _epw_year(path: str | None) -> tuple[str, dict[str, np.ndarray], str, float]:
    """(name, hourly fields with the wet bulb, location, UTC offset in hours) of an EPW file."""
    text, name = load_epw_text(path)
    f = read_epw_fields(text)
    f["wet_bulb_c"] = wet_bulb_c(f["dry_bulb_c"], f["rel_humidity_pct"], f["pressure_pa"])
    location, utc_offset_h = read_epw_location(text)
    return name, f, location, _UTC_OFFSET_OVERRIDE_H.get(name, utc_offset_h)


@functools.cache
def _shipped_epw_year(name: str | None) -> tuple[str, dict[str, np.ndarray], str, float]:
    """``_epw_year`` of a shipped climate, parsed once (a sweep builds it for every point);
    its arrays are read-only, as every Climate built from it shares them."""
    out = _epw_year(name)
    for values in out[1].values():
        values.flags.writeable = False
    return out


# --- climate over simulated time ---------------------------------------------------------


@dataclass(frozen=True)
class Weather:
    """Outdoor air at one instant: dry bulb and wet bulb (C), relative humidity (%)."""

    dry_bulb_c: float
    wet_bulb_c: float
    rel_humidity_pct: float


@dataclass(frozen=True)
class Climate:
    """Outdoor weather over simulated time: dry bulb, humidity and wet bulb of a typical year.

    Simulated ``t = 0`` is ``start_s`` seconds after 1 January 00:00 local standard time
    of the climate (``utc_offset_h`` hours ahead of UTC).
    """

    name: str
    dry_bulb_c: np.ndarray  # 8760 hourly values
    start_s: float  # time of year (seconds after 1 Jan 00:00) at simulated t = 0
    rel_humidity_pct: np.ndarray | None = None
    pressure_pa: np.ndarray | None = None
    dew_point_c: np.ndarray | None = None
    wet_bulb_c: np.ndarray | None = None  # derived from the three above
    utc_offset_h: float = 0.0  # local standard time minus UTC, in hours
    location: str = ""

    @classmethod
    def from_epw(cls, path: str | None, start_day_of_year: int, start_hour: float) -> Climate:
        """A climate from an EPW file (a path, a name in ``CLIMATES`` or ``None`` for the
        default), starting at ``start_hour`` local standard time of ``start_day_of_year`` (1-365)."""
        shipped = path is None or path in CLIMATES  # package data: parsed once per process
        name, f, location, utc_offset_h = _shipped_epw_year(path) if shipped else _epw_year(path)
        return cls(
            name, f["dry_bulb_c"], (start_day_of_year - 1) * DAY_S + start_hour * HOUR_S,
            rel_humidity_pct=f["rel_humidity_pct"], pressure_pa=f["pressure_pa"], dew_point_c=f["dew_point_c"],
            wet_bulb_c=f["wet_bulb_c"], utc_offset_h=utc_offset_h, location=location,
        )

    @classmethod
    def named(cls, name: str, start_day_of_year: int, start_hour: float) -> Climate:
        """One of the shipped climates: ``leesburg_va``, ``phoenix_az``, ``seattle_wa``, ``piedmont_it``."""
        if name not in CLIMATES:
            raise ValueError(f"unknown climate {name!r}; shipped climates: {sorted(CLIMATES)}")
        return cls.from_epw(name, start_day_of_year, start_hour)

    def _hour_index(self, t_s: float) -> tuple[int, int, float]:
        hours = (self.start_s + t_s) / HOUR_S - 1.0  # value i sits at the end of hour i+1
        i = int(np.floor(hours))
        return i % HOURS_PER_YEAR, (i + 1) % HOURS_PER_YEAR, hours - i

    def outdoor_temp_c(self, t_s: float) -> float:
        """Dry-bulb temperature at simulated time ``t_s``."""
        i, j, frac = self._hour_index(t_s)
        a, b = self.dry_bulb_c[i], self.dry_bulb_c[j]
        return float(a + (b - a) * frac)

    def weather(self, t_s: float) -> Weather:
        """Dry bulb, wet bulb and relative humidity at simulated time ``t_s``, each
        interpolated linearly between the hourly values."""
        if self.wet_bulb_c is None or self.rel_humidity_pct is None:
            raise ValueError(f"climate {self.name!r} has no humidity data; build it with Climate.from_epw")
        i, j, frac = self._hour_index(t_s)

        def lerp(x: np.ndarray) -> float:
            return float(x[i] + (x[j] - x[i]) * frac)

        dry = lerp(self.dry_bulb_c)
        # interpolating both keeps wet <= dry, since it holds at both ends
        return Weather(dry, min(lerp(self.wet_bulb_c), dry), lerp(self.rel_humidity_pct))
