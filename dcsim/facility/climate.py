"""Outdoor weather from EnergyPlus EPW files.

An EPW file has 8 header lines, then one line per hour of a typical year; field 6
is dry-bulb temperature (C), 7 dew point (C), 8 relative humidity (%), 9 station
pressure (Pa). Hour ``h`` (1-24) covers the hour ending at ``h``; we place its value
at the end of that hour and interpolate linearly in between, wrapping from
31 December back to 1 January.

The default climate, embedded in the package, is the TMYx typical year of Leesburg,
Virginia (next to Ashburn), from Climate.OneBuilding.org - see DATA_SOURCES.md.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from dcsim.core.units import DAY_S, HOUR_S

DEFAULT_EPW = "USA_VA_Leesburg.Exec.epw.gz"
HOURS_PER_YEAR = 8760


def read_epw_dry_bulb_c(text: str) -> np.ndarray:
    """Hourly dry-bulb temperatures (C) of an EPW file's text."""
    lines = text.splitlines()[8:]
    values = [float(line.split(",")[6]) for line in lines if line.strip()]
    if len(values) != HOURS_PER_YEAR:
        raise ValueError(f"an EPW file has {HOURS_PER_YEAR} hourly rows, this one has {len(values)}")
    return np.asarray(values)


def load_epw_text(path: str | None) -> tuple[str, str]:
    """Text and name of an EPW file (``None``: the embedded default); ``.gz`` is read compressed."""
    if path is None:
        data = resources.files("dcsim.data").joinpath("climate", DEFAULT_EPW).read_bytes()
        return gzip.decompress(data).decode("latin-1"), DEFAULT_EPW
    p = Path(path)
    raw = p.read_bytes()
    if p.suffix == ".gz":
        raw = gzip.decompress(raw)
    return raw.decode("latin-1"), p.name


@dataclass(frozen=True)
class Climate:
    """Outdoor dry-bulb temperature over simulated time."""

    name: str
    dry_bulb_c: np.ndarray  # 8760 hourly values
    start_s: float  # time of year (seconds after 1 Jan 00:00) at simulated t = 0

    @classmethod
    def from_epw(cls, path: str | None, start_day_of_year: int, start_hour: float) -> "Climate":
        text, name = load_epw_text(path)
        return cls(name, read_epw_dry_bulb_c(text), (start_day_of_year - 1) * DAY_S + start_hour * HOUR_S)

    def outdoor_temp_c(self, t_s: float) -> float:
        """Dry-bulb temperature at simulated time ``t_s``."""
        hours = (self.start_s + t_s) / HOUR_S - 1.0  # value i sits at the end of hour i+1
        i = int(np.floor(hours))
        frac = hours - i
        a = self.dry_bulb_c[i % HOURS_PER_YEAR]
        b = self.dry_bulb_c[(i + 1) % HOURS_PER_YEAR]
        return float(a + (b - a) * frac)
