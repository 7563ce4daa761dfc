"""Power delivery: utility -> transformer -> UPS -> PDU -> racks.

Each conversion stage loses power as a function of its load, in the standard
three-term form (no-load, proportional and square-law losses; Schneider Electric
White Papers 108 and 113):

    loss_w = rated_w * (no_load + proportional * x + square * x**2),  x = output_w / rated_w

The input of a stage is its output plus its loss; stages chain from the racks up to
the utility meter. The defaults give about 99 % for a transformer, 94-96 % for a
double-conversion UPS and 99 % for a PDU between 30 % and 100 % load, as in the
LBNL/EPRI UPS measurements (Ton & Fortenbury, 2005) - see DATA_SOURCES.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConversionStage:
    """One stage of the power path."""

    name: str
    rated_w: float
    no_load: float
    proportional: float
    square: float

    def loss_w(self, output_w: float) -> float:
        """Power lost in this stage while it delivers ``output_w``."""
        x = output_w / self.rated_w
        return self.rated_w * (self.no_load + self.proportional * x + self.square * x * x)

    def efficiency(self, output_w: float) -> float:
        """Output over input at ``output_w``."""
        return output_w / (output_w + self.loss_w(output_w)) if output_w > 0 else 0.0


@dataclass(frozen=True)
class PowerPath:
    """Stages in order from the utility to the racks."""

    stages: tuple[ConversionStage, ...]

    def input_w(self, output_w: float) -> float:
        """Utility-side power needed to deliver ``output_w`` to the racks."""
        p = output_w
        for stage in reversed(self.stages):
            p += stage.loss_w(p)
        return p

    def loss_w(self, output_w: float) -> float:
        """Total conversion loss while delivering ``output_w``."""
        return self.input_w(output_w) - output_w

    def max_output_w(self) -> float:
        """The largest rack-side load that overloads no stage (input grows with output)."""
        lo, hi = 0.0, min(s.rated_w for s in self.stages)
        if not self.overloaded(hi):
            return hi
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if not self.overloaded(mid) else (lo, mid)
        return lo

    def overloaded(self, output_w: float) -> list[str]:
        """Names of the stages whose output exceeds their rating at ``output_w``."""
        names = []
        p = output_w
        for stage in reversed(self.stages):
            if p > stage.rated_w:
                names.append(stage.name)
            p += stage.loss_w(p)
        return names
