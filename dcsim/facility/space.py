"""Floor space: the white space the racks and their CDUs stand in, the rooms that power and
cool them, and the gross building area they add up to.

    white space  = racks x area per rack + CDUs x area per rack
    CDUs         = ceil(liquid heat / CDU capacity) + spares   (0 without liquid heat)
    liquid heat  = racks x min(rack nameplate, technology's rack limit) x liquid fraction
    support      = critical power (MW) x support area per MW    (power and mechanical rooms)
    gross area   = white space + support

The area per rack (``facility.rack.floor_area_m2``) is the rack's footprint plus its share
of the aisles, so it does not change with what the rack draws: a denser rack puts more
megawatts on the same square metres, while the power rooms follow the megawatts. That is
why the building costs less per MW as racks get denser (``dcsim.facility.cost``). Pure
functions of the facility's shape; the figures and their sources are in
docs/grid_and_cost.md ("Space and building") and DATA_SOURCES.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Power and mechanical rooms ("grey space": switchgear, UPS and batteries, generators' day
# rooms, pump and chiller rooms) plus loading, security and offices, per MW of critical IT.
# Assumption, calibrated so that a hyperscale hall at ~25 kW per rack (2.8 m^2 x 40 racks =
# 112 m^2 of white space per MW) comes to ~260 m^2 of gross building per MW, inside the
# 10,000-12,500 m^2 that Rider Levett Bucknall gives for a 40 MW data centre (250-312 m^2/MW;
# RLB via RICS Construction Journal, July 2024).
SUPPORT_M2_PER_MW = 150.0
# A row CDU takes one rack position in the row and serves ~1 MW of liquid heat; row CDUs
# sold for direct-to-chip AI halls are rated from a few hundred kW to ~2 MW in a rack-sized
# cabinet (assumption), with one spare for N+1 redundancy.
CDU_CAPACITY_KW = 1000.0
CDU_SPARES = 1


@dataclass(frozen=True)
class FloorArea:
    """The areas of one facility (m^2) and the CDUs counted in its white space."""

    racks_m2: float  # the racks' positions, aisles included
    cdus: int  # coolant distribution units in the rows (0 without liquid cooling)
    cdu_m2: float
    support_m2: float  # power and mechanical rooms, loading and offices
    white_m2: float  # racks + CDUs
    gross_m2: float  # white space + support

    def describe(self) -> str:
        """One line: what the gross area is made of."""
        cdus = f" incl. {self.cdus} CDU position{'s' if self.cdus != 1 else ''}" if self.cdus else ""
        return (f"{self.white_m2:,.1f} m2 of white space{cdus} + {self.support_m2:,.1f} m2 of power and "
                f"mechanical rooms")


@dataclass(frozen=True)
class SpaceModel:
    """How much floor a facility needs (module docstring for the formulas)."""

    rack_m2: float = 2.8  # white space per rack with its aisle share (facility.rack.floor_area_m2)
    support_m2_per_mw: float = SUPPORT_M2_PER_MW
    cdu_capacity_kw: float = CDU_CAPACITY_KW
    cdu_spares: int = CDU_SPARES

    def __post_init__(self) -> None:
        if not self.rack_m2 > 0 or not self.cdu_capacity_kw > 0:
            raise ValueError(f"rack_m2 and cdu_capacity_kw must be > 0, got {self.rack_m2}, {self.cdu_capacity_kw}")
        if self.support_m2_per_mw < 0 or self.cdu_spares < 0:
            raise ValueError(f"support_m2_per_mw and cdu_spares must be >= 0, got {self.support_m2_per_mw}, "
                             f"{self.cdu_spares}")

    def cdus(self, liquid_heat_w: float) -> int:
        """CDUs for ``liquid_heat_w`` of heat on liquid: enough to carry it, plus the spares."""
        if liquid_heat_w <= 0:
            return 0
        # round first so that exactly n CDUs' worth of heat is n CDUs, not n + 1 by a rounding error
        return math.ceil(round(liquid_heat_w / (self.cdu_capacity_kw * 1e3), 9)) + self.cdu_spares

    def area(self, racks: int, rack_heat_w: float, liquid_fraction: float, critical_w: float) -> FloorArea:
        """The areas of ``racks`` racks of design heat ``rack_heat_w`` each, ``liquid_fraction``
        of it on liquid, behind a power path of ``critical_w`` of critical IT capacity."""
        if racks < 0 or rack_heat_w < 0 or critical_w < 0 or not 0 <= liquid_fraction <= 1:
            raise ValueError("racks, rack_heat_w and critical_w must be >= 0 and liquid_fraction in [0, 1]")
        racks_m2 = racks * self.rack_m2
        cdus = self.cdus(racks * rack_heat_w * liquid_fraction)
        cdu_m2 = cdus * self.rack_m2
        support_m2 = critical_w / 1e6 * self.support_m2_per_mw
        white_m2 = racks_m2 + cdu_m2
        return FloorArea(racks_m2, cdus, cdu_m2, support_m2, white_m2, white_m2 + support_m2)
