"""Config schema of the facility group (``conf/facility/*.yaml``).

Plain dataclasses: Hydra validates YAML and overrides against them, and
``dcsim.config.build`` turns them into the objects of this package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class NodeConfig:
    gpu: str = "H100-SXM"  # a name in dcsim.hardware.gpus.GPUS
    gpus_per_node: int = 8
    host_idle_w: float = 1000.0  # AcmeTrace, see dcsim/hardware/node.py
    host_busy_w: float = 1650.0
    gpu_power_cap_w: Optional[float] = None  # a static per-GPU power cap (slows work, see docs/calibration.md)


@dataclass
class RackConfig:
    gpus_per_rack: int = 32  # a multiple of node.gpus_per_node


@dataclass
class StageConfig:
    """Loss curve of a conversion stage: rated * (no_load + proportional x + square x^2)."""

    no_load: float = 0.0
    proportional: float = 0.0
    square: float = 0.0
    rated_kw: Optional[float] = None  # None: sized to the IT nameplate


@dataclass
class PowerConfig:
    # Defaults: see dcsim/facility/power_path.py and DATA_SOURCES.md.
    transformer: StageConfig = field(default_factory=lambda: StageConfig(0.002, 0.0, 0.008))
    ups: StageConfig = field(default_factory=lambda: StageConfig(0.0125, 0.0192, 0.010))
    pdu: StageConfig = field(default_factory=lambda: StageConfig(0.0, 0.005, 0.005))


@dataclass
class CoolingConfig:
    """The cooling plant's parameters (see dcsim/facility/cooling.py); assumptions listed in DATA_SOURCES.md."""

    chilled_water_supply_c: float = 18.0
    evaporator_approach_k: float = 5.0
    condenser_approach_k: float = 10.0
    carnot_fraction: float = 0.5
    economiser_full_c: float = 8.0
    economiser_band_k: float = 6.0
    fan_pump_fraction: float = 0.05


@dataclass
class ClimateConfig:
    epw_path: Optional[str] = None  # None: the embedded Leesburg, VA typical year
    start_day_of_year: int = 196  # 15 July
    start_hour: float = 12.0


@dataclass
class NetworkConfig:
    scaleout_gbit_per_s_per_gpu: float = 400.0  # one 400G NIC per GPU (DGX H100 datasheet)


@dataclass
class FacilityConfig:
    num_racks: int = 4
    node: NodeConfig = field(default_factory=NodeConfig)
    rack: RackConfig = field(default_factory=RackConfig)
    power: PowerConfig = field(default_factory=PowerConfig)
    cooling: CoolingConfig = field(default_factory=CoolingConfig)
    climate: ClimateConfig = field(default_factory=ClimateConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    control_interval_s: float = 60.0
