"""A link that moves KV caches: prefill -> decode replica, or host memory -> HBM.

A :class:`KvLink` is one shared pipe of ``bytes_per_s`` (one way) with egalitarian
processor sharing: the ``n`` transfers in flight each move at ``bytes_per_s / n``, and a
transfer that starts or ends changes the others' rate from that instant. Two transfers of
S bytes started together both end at 2 S / B (FIFO would end the first at S / B and the
second at 2 S / B). Processor sharing is the fluid picture of how the transfers of a
serving stack share a NIC or an NVLink port: vLLM's NixlConnector (and Dynamo's NIXL
transfers) issue each request's block reads as soon as the decode side schedules it, as
concurrent RDMA operations that the NIC arbitrates between, not one request after another;
the total is the same either way (the link is work-conserving), only who waits differs.

The link is costed in closed form like the replica engine: one timer for the next
transfer to end, recomputed when one starts or ends (a stale timer is recognised by a
token), so a transfer costs O(1) events. Fixed per-transfer latency and the protocol's
efficiency are not modelled (no measurement in dcsim's data); ``bytes_per_s`` is the line
rate the caller gives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dcsim.hardware.gpus import GpuSpec
    from dcsim.hardware.performance import Fabric

# A GPU's scale-out NIC bandwidth when the device carries no fabric: one 400G NIC per GPU,
# as facility.network.scaleout_gbit_per_s_per_gpu defaults to (DGX H100 datasheet).
DEFAULT_NIC_BYTES_PER_S_PER_GPU = 400e9 / 8
KV_PATHS = ("nvlink", "nic")


def kv_transfer_bytes_per_s_per_gpu(path: str, configured_gbit_per_s: float | None, gpu: GpuSpec,
                                    fabric: Fabric | None) -> float:
    """One-way bandwidth per GPU of a prefill -> decode KV transfer over ``path``.

    Precedence: a configured ``kv_transfer_gbit_per_s`` applies to every path; without it
    (null, the default) a transfer inside one scale-up domain runs at the GPU's NVLink
    bandwidth one way (half the datasheet's bidirectional figure), and one across domains at
    the GPU's scale-out NIC share (``facility.network.scaleout_gbit_per_s_per_gpu``)."""
    if path not in KV_PATHS:
        raise ValueError(f"path must be one of {KV_PATHS}, got {path!r}")
    if configured_gbit_per_s is not None:
        return configured_gbit_per_s * 1e9 / 8
    if path == "nvlink":
        return gpu.nvlink_bw_bytes_per_s / 2.0
    return fabric.scaleout_bytes_per_s_per_gpu if fabric is not None else DEFAULT_NIC_BYTES_PER_S_PER_GPU


class KvLink:
    """A processor-sharing link of ``bytes_per_s``; ``send`` calls back when a transfer lands."""

    def __init__(self, env: Any, bytes_per_s: float, name: str = "") -> None:
        if not bytes_per_s > 0:
            raise ValueError(f"KvLink {name!r}: bytes_per_s must be > 0, got {bytes_per_s!r}")
        self.env = env
        self.bytes_per_s = bytes_per_s
        self.name = name
        self._active: list[list[Any]] = []  # [bytes left, on_done, bytes], in start order
        self._t_s = 0.0  # time the bytes left were last brought up to date
        self._token = 0
        self.bytes_sent = 0.0  # bytes of transfers that landed
        self.transfers = 0  # transfers that landed
        self.busy_s = 0.0  # time with at least one transfer in flight

    @property
    def in_flight(self) -> int:
        """Transfers on the link now."""
        return len(self._active)

    def idle_time_s(self, size_bytes: float) -> float:
        """Time ``size_bytes`` take alone on the link: bytes / bandwidth."""
        return size_bytes / self.bytes_per_s

    def send(self, size_bytes: float, on_done: Callable[[], None]) -> None:
        """Start a transfer of ``size_bytes`` now; ``on_done()`` runs when its last byte lands
        (at once, in this call, for an empty transfer)."""
        if size_bytes <= 0:
            on_done()
            return
        self._advance()
        self._active.append([float(size_bytes), on_done, float(size_bytes)])
        self.bytes_sent += size_bytes
        self._schedule()

    def _advance(self) -> None:
        """Bring every transfer's bytes left up to now at the shared rate."""
        now = self.env.now
        dt = now - self._t_s
        self._t_s = now
        if dt <= 0 or not self._active:
            return
        self.busy_s += dt
        moved = dt * self.bytes_per_s / len(self._active)
        for t in self._active:
            t[0] -= moved

    def _schedule(self) -> None:
        self._token += 1
        if not self._active:
            return
        token = self._token
        left = min(t[0] for t in self._active)
        delay = max(left, 0.0) * len(self._active) / self.bytes_per_s
        self.env.timeout(delay).callbacks.append(lambda _ev: self._land() if token == self._token else None)

    def _land(self) -> None:
        """The transfer(s) with the fewest bytes left have landed: call them back, in start order."""
        self._advance()
        least = min(t[0] for t in self._active)
        # Those within rounding (1e-9 of their size) of the least landed together.
        done = [t for t in self._active if t[0] - least <= 1e-9 * t[2]]
        self._active = [t for t in self._active if t[0] - least > 1e-9 * t[2]]
        self.transfers += len(done)
        self._schedule()
        for t in done:
            t[1]()
