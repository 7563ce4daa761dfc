"""A server node: a number of GPUs plus host power (CPUs, memory, NICs, fans, NVSwitch)."""

from __future__ import annotations

from dataclasses import dataclass

from dcsim.hardware.gpus import GpuSpec

# Host power of an 8-GPU A100 server, measured: AcmeTrace server_power_cdf.csv
# (Hu et al., NSDI 2024). At the 10th percentile (GPUs idle) the server draws 1,512 W,
# of which 8 x 62 W are GPUs -> host ~1,000 W; at the 90th percentile (training) it
# draws 4,851 W, of which about 8 x 400 W are GPUs -> host ~1,650 W.
HOST_IDLE_W = 1000.0
HOST_BUSY_W = 1650.0
# The measured host power includes the server's fans at the measurement's operating point:
# air-cooled servers, inlet taken in the ASHRAE recommended range at or below the 23 C at
# which the fans start to ramp (their reference point, dcsim/facility/airflow.py), drawing
# the air technology's fan share (0.08 W per W of server power, dcsim/data/cooling/air.yaml)
# of the whole server's power. The facility replaces them by its fan model (docs/cooling.md).
SERVER_IDLE_W = 1512.0
SERVER_BUSY_W = 4851.0
REFERENCE_FAN_SHARE = 0.08
HOST_FAN_IDLE_W = REFERENCE_FAN_SHARE * SERVER_IDLE_W  # 121 W
HOST_FAN_BUSY_W = REFERENCE_FAN_SHARE * SERVER_BUSY_W  # 388 W


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """GPUs per node and the node's non-GPU power, idle and with every GPU busy.

    ``host_idle_w`` / ``host_busy_w`` are host power as measured, server fans included;
    ``host_fan_idle_w`` / ``host_fan_busy_w`` are the fans inside them at the measurement's
    reference point, which the facility's fan model replaces (``host_*_without_fans_w``).
    """

    gpu: GpuSpec
    gpus_per_node: int = 8
    host_idle_w: float = HOST_IDLE_W
    host_busy_w: float = HOST_BUSY_W
    host_fan_idle_w: float = HOST_FAN_IDLE_W
    host_fan_busy_w: float = HOST_FAN_BUSY_W

    def host_power_w(self, busy_gpus: int) -> float:
        """Host power with ``busy_gpus`` of the node's GPUs busy (linear in between), fans as measured."""
        return self.host_idle_w + (self.host_busy_w - self.host_idle_w) * busy_gpus / self.gpus_per_node

    @property
    def host_idle_without_fans_w(self) -> float:
        """Host power with its GPUs idle, less the reference fans the measurement includes."""
        return max(self.host_idle_w - self.host_fan_idle_w, 0.0)

    @property
    def host_busy_without_fans_w(self) -> float:
        """Host power with every GPU busy, less the reference fans the measurement includes."""
        return max(self.host_busy_w - self.host_fan_busy_w, self.host_idle_without_fans_w)

    @property
    def nameplate_w(self) -> float:
        """Maximum draw: every GPU at TDP and the host busy."""
        return self.gpus_per_node * self.gpu.tdp_w + self.host_busy_w
