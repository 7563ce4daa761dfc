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


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """GPUs per node and the node's non-GPU power, idle and with every GPU busy."""

    gpu: GpuSpec
    gpus_per_node: int = 8
    host_idle_w: float = HOST_IDLE_W
    host_busy_w: float = HOST_BUSY_W

    def host_power_w(self, busy_gpus: int) -> float:
        """Host power with ``busy_gpus`` of the node's GPUs busy (linear in between)."""
        return self.host_idle_w + (self.host_busy_w - self.host_idle_w) * busy_gpus / self.gpus_per_node

    @property
    def nameplate_w(self) -> float:
        """Maximum draw: every GPU at TDP and the host busy."""
        return self.gpus_per_node * self.gpu.tdp_w + self.host_busy_w
