"""The network as physics: the scale-up domain, the scale-out fabric, collectives and network power.

Two tiers join GPUs (docs/network.md gives every formula and figure with its source):

- the **scale-up domain** (:class:`ScaleUpDomain`): the GPUs joined by copper NVLink
  through NVSwitch (AMD: Infinity Fabric), 8 in an HGX node, 72 in an NVL72 rack, each at
  the same per-GPU bandwidth to every other GPU of the domain;
- the **scale-out network** (:class:`ScaleOut`): one or more NICs per GPU into a leaf /
  spine fat tree, with the leaf (rack) uplinks possibly oversubscribed, as
  ``facility.network`` describes it (``scaleout_gbit_per_s_per_gpu``,
  ``rack_uplink_oversubscription``).

Collectives are costed in the alpha-beta (latency-bandwidth) model of Hockney (1994),
with the ring and pairwise-exchange algorithms of Thakur, Rabenseifner and Gropp,
"Optimization of Collective Communication Operations in MPICH" (IJHPCA 2005): a message
of m bytes over a link costs ``alpha + m / B``. For n ranks:

- ring all-reduce of a buffer of S bytes per rank (reduce-scatter then all-gather):
  ``2 (n - 1) alpha + 2 (n - 1) / n * S / B``;
- ring reduce-scatter, each rank ending with a shard of s bytes (S = n s in):
  ``(n - 1) alpha + (n - 1) s / B``; ring all-gather of shards of s bytes, the same;
- pairwise all-to-all of S bytes per rank (S / n to each peer, expert-parallel dispatch
  or combine): ``(n - 1) alpha + (n - 1) / n * S / B``;
- a group of n GPUs over k = n / d domains of d GPUs, hierarchically: reduce-scatter
  inside each domain (shard S / d), ring all-reduce of that shard across the k domains
  over the NICs (each GPU with its own NIC, in parallel with the other d - 1), all-gather
  inside the domain:
  ``T = RS_d(S / d; B_up) + AR_k(S / d; B_out) + AG_d(S / d; B_up)``;
- an all-to-all over k domains: each GPU sends (d - 1) S / n over NVLink and (n - d) S / n
  over its NIC at once; the slower of the two sets the time:
  ``max((d - 1) alpha_up + (d - 1) S / (n B_up), (n - d) alpha_out + (n - d) S / (n B_out))``.

:func:`collective_s` takes the group and the domain size and picks the path: a group that
fits one domain runs at NVLink speed and never touches a NIC; a larger one crosses the
scale-out network, at ``1 / oversubscription`` of the NIC bandwidth once it spans racks.

Network power (:func:`fat_tree` and :func:`network_power`): optical transceivers on the
scale-out ports (none on the copper links of a scale-up domain) and switches, for a
two-tier leaf / spine fat tree. Only figures a datasheet gives are shipped
(:data:`NDR_400G_OPTICS`); the rest are inputs, and a term whose figure is not given is
left out and named in :attr:`NetworkPower.omitted`.

Units: seconds, bytes, bytes per second (one way, per GPU), watts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from dcsim.core.errors import require

Collective = Literal["all_reduce", "reduce_scatter", "all_gather", "all_to_all"]
COLLECTIVES: tuple[str, ...] = ("all_reduce", "reduce_scatter", "all_gather", "all_to_all")


def _positive(field: str, value: float, allowed: str = "a finite number > 0") -> None:
    require(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0,
            field, value, allowed)


def _non_negative(field: str, value: float) -> None:
    require(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0,
            field, value, "a finite number >= 0")


def _count(field: str, value: int, low: int = 1) -> None:
    require(isinstance(value, int) and not isinstance(value, bool) and value >= low, field, value,
            f"an integer >= {low}")


@dataclass(frozen=True, slots=True)
class ScaleUpDomain:
    """GPUs joined by copper NVLink / NVSwitch (or Infinity Fabric), all at one per-GPU bandwidth.

    ``bytes_per_s_per_gpu`` is one way, per GPU, as a collective reaches it (a
    vendor's bidirectional figure halved, times any efficiency the caller applies);
    ``hop_latency_s`` the alpha of one step of a ring (0: bandwidth term only).
    """

    gpus: int
    bytes_per_s_per_gpu: float
    hop_latency_s: float = 0.0

    def __post_init__(self) -> None:
        _count("ScaleUpDomain.gpus", self.gpus)
        _positive("ScaleUpDomain.bytes_per_s_per_gpu", self.bytes_per_s_per_gpu)
        _non_negative("ScaleUpDomain.hop_latency_s", self.hop_latency_s)

    @classmethod
    def from_bidirectional(cls, gpus: int, bidirectional_bytes_per_s: float, efficiency: float = 1.0,
                           hop_latency_s: float = 0.0) -> ScaleUpDomain:
        """A domain from a vendor's per-GPU bidirectional figure: one way = figure / 2 x efficiency."""
        require(isinstance(efficiency, (int, float)) and 0 < efficiency <= 1, "ScaleUpDomain.efficiency",
                efficiency, "a share in (0, 1]")
        return cls(gpus, bidirectional_bytes_per_s / 2.0 * efficiency, hop_latency_s)


@dataclass(frozen=True, slots=True)
class ScaleOut:
    """The scale-out network seen by one GPU: its NIC bandwidth, latency and the rack uplinks' oversubscription.

    ``nic_bytes_per_s_per_gpu`` is one way, all of a GPU's NIC ports together (as
    ``facility.network.scaleout_gbit_per_s_per_gpu / 8``, times any efficiency the caller
    applies); ``rack_uplink_oversubscription`` the leaf's downlink over uplink bandwidth
    (1: non-blocking).
    """

    nic_bytes_per_s_per_gpu: float
    latency_s: float = 0.0
    rack_uplink_oversubscription: float = 1.0

    def __post_init__(self) -> None:
        _positive("ScaleOut.nic_bytes_per_s_per_gpu", self.nic_bytes_per_s_per_gpu)
        _non_negative("ScaleOut.latency_s", self.latency_s)
        require(isinstance(self.rack_uplink_oversubscription, (int, float))
                and math.isfinite(self.rack_uplink_oversubscription) and self.rack_uplink_oversubscription >= 1.0,
                "ScaleOut.rack_uplink_oversubscription", self.rack_uplink_oversubscription,
                "a ratio >= 1 (1: non-blocking)")

    @classmethod
    def from_gbit_per_s(cls, gbit_per_s_per_gpu: float, efficiency: float = 1.0, latency_s: float = 0.0,
                        rack_uplink_oversubscription: float = 1.0) -> ScaleOut:
        """From ``facility.network``'s figures: ``scaleout_gbit_per_s_per_gpu`` x 1e9 / 8 x efficiency, one way."""
        require(isinstance(efficiency, (int, float)) and 0 < efficiency <= 1, "ScaleOut.efficiency", efficiency,
                "a share in (0, 1]")
        _positive("ScaleOut.gbit_per_s_per_gpu", gbit_per_s_per_gpu)
        return cls(gbit_per_s_per_gpu * 1e9 / 8 * efficiency, latency_s, rack_uplink_oversubscription)

    def bytes_per_s_per_gpu(self, crosses_rack_uplinks: bool) -> float:
        """One-way bandwidth per GPU: the NIC's, or 1 / oversubscription of it through the rack uplinks.

        Every GPU of a rack sending out of it at once (as a collective spanning racks
        does) shares the uplinks, which carry 1 / oversubscription of the GPUs' NIC bandwidth.
        """
        if crosses_rack_uplinks:
            return self.nic_bytes_per_s_per_gpu / self.rack_uplink_oversubscription
        return self.nic_bytes_per_s_per_gpu


# ---------------------------------------------------------------------------- collectives


def ring_allreduce_s(size_bytes, ranks: int, bytes_per_s: float, hop_latency_s: float = 0.0):
    """Ring all-reduce of ``size_bytes`` per rank: ``2 (n - 1) alpha + 2 (n - 1) / n * S / B`` (0 for one rank).

    Reduce-scatter then all-gather, each n - 1 steps of S / n bytes (Thakur et al. 2005).
    ``size_bytes`` may be a numpy array.
    """
    if ranks <= 1:
        return 0.0 * size_bytes
    return 2 * (ranks - 1) * hop_latency_s + 2.0 * (ranks - 1) / ranks * size_bytes / bytes_per_s


def reduce_scatter_s(shard_bytes, ranks: int, bytes_per_s: float, hop_latency_s: float = 0.0):
    """Ring reduce-scatter leaving each rank a shard of ``shard_bytes``: ``(n - 1) alpha + (n - 1) s / B``.

    n - 1 steps, each sending one shard and adding the one received; the input per rank is n x s.
    """
    if ranks <= 1:
        return 0.0 * shard_bytes
    return (ranks - 1) * hop_latency_s + (ranks - 1) * shard_bytes / bytes_per_s


def all_gather_s(shard_bytes, ranks: int, bytes_per_s: float, hop_latency_s: float = 0.0):
    """Ring all-gather of one shard of ``shard_bytes`` from each rank: ``(n - 1) alpha + (n - 1) s / B``.

    n - 1 steps, each forwarding one shard; every rank ends with all n shards.
    """
    if ranks <= 1:
        return 0.0 * shard_bytes
    return (ranks - 1) * hop_latency_s + (ranks - 1) * shard_bytes / bytes_per_s


def all_to_all_s(size_bytes, ranks: int, bytes_per_s: float, hop_latency_s: float = 0.0):
    """Pairwise all-to-all of ``size_bytes`` per rank, ``S / n`` to each peer: ``(n - 1) alpha + (n - 1) / n * S / B``.

    n - 1 exchange steps; the share S / n a rank keeps for itself does not move.
    """
    if ranks <= 1:
        return 0.0 * size_bytes
    return (ranks - 1) * hop_latency_s + (ranks - 1) / ranks * size_bytes / bytes_per_s


@dataclass(frozen=True, slots=True)
class HierarchicalAllReduce:
    """The three phases of an all-reduce over several scale-up domains, in seconds."""

    reduce_scatter_s: float  # inside each domain, over NVLink
    scaleout_all_reduce_s: float  # across the domains, over the NICs, one shard per GPU in parallel
    all_gather_s: float  # inside each domain, over NVLink

    @property
    def time_s(self) -> float:
        """All three phases, one after another."""
        return self.reduce_scatter_s + self.scaleout_all_reduce_s + self.all_gather_s


def _domains(group_gpus: int, domain_gpus: int) -> int:
    require(group_gpus % domain_gpus == 0, "group_gpus", group_gpus,
            f"a multiple of the scale-up domain's {domain_gpus} GPUs when the group spans several domains")
    return group_gpus // domain_gpus


def hierarchical_allreduce(size_bytes: float, group_gpus: int, domain: ScaleUpDomain, scaleout_bytes_per_s: float,
                           scaleout_latency_s: float = 0.0) -> HierarchicalAllReduce:
    """All-reduce of ``size_bytes`` per GPU over ``group_gpus`` GPUs in whole domains of ``domain.gpus``.

    Reduce-scatter inside each domain (each GPU then holds the domain's sum of one shard
    of S / d), ring all-reduce of that shard across the k = n / d domains over the
    scale-out network (the d GPUs of a domain each run one, in parallel, on their own
    NICs), all-gather inside the domain.
    """
    d = domain.gpus
    k = _domains(group_gpus, d)
    shard = size_bytes / d
    return HierarchicalAllReduce(
        reduce_scatter_s(shard, d, domain.bytes_per_s_per_gpu, domain.hop_latency_s),
        ring_allreduce_s(shard, k, scaleout_bytes_per_s, scaleout_latency_s),
        all_gather_s(shard, d, domain.bytes_per_s_per_gpu, domain.hop_latency_s),
    )


def collective_s(kind: Collective, size_bytes: float, group_gpus: int, domain: ScaleUpDomain, scaleout: ScaleOut,
                 gpus_per_rack: int | None = None) -> float:
    """Time of one collective of ``group_gpus`` GPUs placed on whole scale-up domains.

    ``size_bytes`` is the full per-GPU buffer: the all-reduce's input, the
    reduce-scatter's input, the all-gather's output, the all-to-all's send buffer. A group
    that fits one domain (``group_gpus <= domain.gpus``) runs over NVLink alone; a larger
    one spans ``group_gpus / domain.gpus`` domains and crosses the scale-out network, at
    the NIC bandwidth, or 1 / oversubscription of it when the group is larger than
    ``gpus_per_rack`` (None: the rack uplinks are not crossed).
    """
    require(kind in COLLECTIVES, "kind", kind, f"one of {', '.join(COLLECTIVES)}")
    _count("group_gpus", group_gpus)
    _non_negative("size_bytes", size_bytes)
    if gpus_per_rack is not None:
        _count("gpus_per_rack", gpus_per_rack)
    n, d = group_gpus, domain.gpus
    up_bw, up_lat = domain.bytes_per_s_per_gpu, domain.hop_latency_s
    if n <= d:
        if kind == "all_reduce":
            return float(ring_allreduce_s(size_bytes, n, up_bw, up_lat))
        if kind == "reduce_scatter":
            return float(reduce_scatter_s(size_bytes / n, n, up_bw, up_lat))
        if kind == "all_gather":
            return float(all_gather_s(size_bytes / n, n, up_bw, up_lat))
        return float(all_to_all_s(size_bytes, n, up_bw, up_lat))
    k = _domains(n, d)
    out_bw = scaleout.bytes_per_s_per_gpu(gpus_per_rack is not None and n > gpus_per_rack)
    out_lat = scaleout.latency_s
    if kind == "all_reduce":
        return hierarchical_allreduce(size_bytes, n, domain, out_bw, out_lat).time_s
    if kind == "reduce_scatter":
        # inside the domain to shards of S / d, then across the domains to shards of S / n
        return float(reduce_scatter_s(size_bytes / d, d, up_bw, up_lat)
                     + reduce_scatter_s(size_bytes / n, k, out_bw, out_lat))
    if kind == "all_gather":
        # across the domains to shards of S / d, then inside the domain to the whole S
        return float(all_gather_s(size_bytes / n, k, out_bw, out_lat)
                     + all_gather_s(size_bytes / d, d, up_bw, up_lat))
    return float(max(_all_to_all_parts(size_bytes, n, domain, out_bw, out_lat)))


def _all_to_all_parts(size_bytes: float, group_gpus: int, domain: ScaleUpDomain, out_bw: float,
                      out_lat: float) -> tuple[float, float]:
    """(NVLink part, NIC part) of an all-to-all over whole domains, sent at once; the slower sets the time.

    Each GPU sends (d - 1) / n of its buffer to its own domain's other GPUs and (n - d) / n
    of it to the GPUs of other domains.
    """
    n, d = group_gpus, domain.gpus
    inside = (d - 1) * domain.hop_latency_s + (d - 1) * size_bytes / (n * domain.bytes_per_s_per_gpu)
    across = (n - d) * out_lat + (n - d) * size_bytes / (n * out_bw)
    return inside, across


def all_to_all_parts_s(size_bytes: float, group_gpus: int, domain: ScaleUpDomain, scaleout: ScaleOut,
                       gpus_per_rack: int | None = None) -> tuple[float, float]:
    """The NVLink and NIC parts of :func:`collective_s`'s all-to-all (its time is their max).

    A group inside one domain has no NIC part (0). Both parts are affine in
    ``size_bytes``, so a caller may fold them per byte (the inference roofline does).
    """
    _count("group_gpus", group_gpus)
    _non_negative("size_bytes", size_bytes)
    if group_gpus <= domain.gpus:
        return float(all_to_all_s(size_bytes, group_gpus, domain.bytes_per_s_per_gpu, domain.hop_latency_s)), 0.0
    _domains(group_gpus, domain.gpus)
    out_bw = scaleout.bytes_per_s_per_gpu(gpus_per_rack is not None and group_gpus > gpus_per_rack)
    inside, across = _all_to_all_parts(size_bytes, group_gpus, domain, out_bw, scaleout.latency_s)
    return float(inside), float(across)


# ---------------------------------------------------------------------------- network power


@dataclass(frozen=True, slots=True)
class FatTree:
    """Switches, ports and optical ports of a leaf / spine (and, when larger, core) fat tree joining scale-up domains.

    Counts only: :meth:`transceivers` groups optical ports into modules and
    :func:`network_power` turns them into watts. ``spines`` are the second tier; ``cores``
    the third (0 in a two-tier tree).
    """

    endpoints: int  # NIC ports (GPUs x NIC ports per GPU); 0 when one scale-up domain holds every GPU
    leaves: int
    spines: int
    leaf_down_ports: int  # per leaf, towards the NICs
    leaf_up_ports: int  # per leaf, towards the spines (0 with a single switch)
    nic_links: int  # NIC port to leaf port
    spine_links: int  # leaf port to spine port
    nic_optical_ports: int  # NIC ports on an optical link (one module each)
    switch_optical_ports: int  # switch ports on an optical link (leaf down, leaf up, spine down, spine up, core)
    cores: int = 0  # third-tier switches
    core_links: int = 0  # spine port to core port

    @property
    def switches(self) -> int:
        """Leaf, spine and core switches."""
        return self.leaves + self.spines + self.cores

    @property
    def tiers(self) -> int:
        """Switch tiers: 0 (no fabric), 1 (a single switch), 2 (leaf / spine) or 3 (leaf / spine / core)."""
        return 0 if self.leaves == 0 else 1 if self.spines == 0 else 2 if self.cores == 0 else 3

    def switch_transceivers(self, ports_per_switch_module: int) -> int:
        """Optical modules in switch cages, one per ``ports_per_switch_module`` optical ports."""
        _count("ports_per_switch_module", ports_per_switch_module)
        return math.ceil(self.switch_optical_ports / ports_per_switch_module)

    def transceivers(self, ports_per_switch_module: int) -> int:
        """Optical modules on both ends of every optical link."""
        return self.nic_optical_ports + self.switch_transceivers(ports_per_switch_module)


def fat_tree(gpus: int, nic_ports_per_gpu: float, switch_radix: int, oversubscription: float = 1.0,
             domain_gpus: int = 1, nic_links_optical: bool = True) -> FatTree:
    """The fat tree of ``gpus`` GPUs with ``nic_ports_per_gpu`` scale-out ports each, in two or three tiers.

    - No scale-out fabric when one scale-up domain holds every GPU
      (``gpus <= domain_gpus``): its links are copper NVLink, with no transceivers.
    - E = gpus x nic_ports_per_gpu endpoints (a whole number: 0.5 is one NIC port per two
      GPUs). E <= radix: one switch, no spines.
    - Otherwise each leaf has ``floor(radix x o / (1 + o))`` ports down and the rest up
      (o = ``oversubscription``, down / up); leaves L = ceil(E / down).
    - Two tiers while a spine can reach every leaf (L <= radix): spines
      S = ceil(L x up / radix).
    - Beyond that, three tiers (a folded Clos): pods of P = floor(radix / 2) leaves, each
      pod with ``up`` spines of P ports down and P up (non-blocking above the leaves); the
      L x up spine-core links end on C = ceil(L x up / radix) cores; every core reaches
      every pod, so at most ``radix`` pods (65,536 endpoints with 64-port switches at 1:1);
      beyond that the tree would need a fourth tier, which is refused.
    - Optical ports: both ends of every switch-to-switch link, and both ends of the NIC
      links when ``nic_links_optical`` (False: copper DAC within the rack, no optics).
    """
    _count("gpus", gpus)
    _non_negative("nic_ports_per_gpu", nic_ports_per_gpu)
    ports = gpus * nic_ports_per_gpu
    require(abs(ports - round(ports)) < 1e-9, "nic_ports_per_gpu", nic_ports_per_gpu,
            f"a number of ports per GPU that gives {gpus} GPUs a whole number of NIC ports")
    _count("switch_radix", switch_radix, low=2)
    _count("domain_gpus", domain_gpus)
    require(isinstance(oversubscription, (int, float)) and math.isfinite(oversubscription) and oversubscription >= 1,
            "oversubscription", oversubscription, "a ratio >= 1 (1: non-blocking)")
    endpoints = int(round(ports)) if gpus > domain_gpus else 0
    if endpoints == 0:
        return FatTree(0, 0, 0, 0, 0, 0, 0, 0, 0)
    nic_optical = endpoints if nic_links_optical else 0
    if endpoints <= switch_radix:
        return FatTree(endpoints, 1, 0, switch_radix, 0, endpoints, 0, nic_optical, nic_optical)
    down = math.floor(switch_radix * oversubscription / (1.0 + oversubscription))
    up = switch_radix - down
    require(up >= 1, "oversubscription", oversubscription,
            f"a ratio that leaves a {switch_radix}-port leaf at least one uplink")
    leaves = math.ceil(endpoints / down)
    spine_links = leaves * up
    if leaves <= switch_radix:
        spines = math.ceil(spine_links / switch_radix)
        return FatTree(endpoints, leaves, spines, down, up, endpoints, spine_links, nic_optical,
                       nic_optical + 2 * spine_links)
    pod_leaves = switch_radix // 2
    pods = math.ceil(leaves / pod_leaves)
    require(pods <= switch_radix, "gpus", gpus,
            f"at most {math.floor(switch_radix * pod_leaves * down / nic_ports_per_gpu)} GPUs for a three-tier fat "
            f"tree of {switch_radix}-port switches at {oversubscription:g}:1 (four tiers are not modelled)")
    spines = pods * up
    core_links = spine_links  # each spine sends up as many links as it takes from its pod's leaves
    cores = math.ceil(core_links / switch_radix)
    return FatTree(endpoints, leaves, spines, down, up, endpoints, spine_links, nic_optical,
                   nic_optical + 2 * spine_links + 2 * core_links, cores, core_links)


@dataclass(frozen=True, slots=True)
class NetworkPowerFigures:
    """Watts per part of the scale-out network; None where no source gives the figure (the term is left out)."""

    nic_module_w: float | None  # optical module in a NIC cage
    switch_module_w: float | None  # optical module in a switch cage (serving ``ports_per_switch_module`` ports)
    ports_per_switch_module: int  # switch ports one switch-side module serves
    switch_w: float | None = None  # one switch without its optics
    nic_w: float | None = None  # one NIC port's adapter, without its optics
    source: str = ""
    port_gbit_per_s: float = 400.0  # the speed of the ports these figures are for

    def __post_init__(self) -> None:
        for name in ("nic_module_w", "switch_module_w", "switch_w", "nic_w"):
            value = getattr(self, name)
            if value is not None:
                _non_negative(f"NetworkPowerFigures.{name}", value)
        _count("NetworkPowerFigures.ports_per_switch_module", self.ports_per_switch_module)
        _positive("NetworkPowerFigures.port_gbit_per_s", self.port_gbit_per_s)


# NDR InfiniBand / 400G Ethernet optics on NVIDIA Quantum-2 and Spectrum-4 switches and ConnectX-7:
# - switch side: the twin-port 2 x 400G (800G) OSFP single-mode module, 17 W, serving two
#   400G switch ports ("Twin-port single mode OSFP transceivers remain at 17 Watts for all
#   configurations", NVIDIA MMS4X00-NS product specifications; the QM97xx user manual:
#   "The system offers Class 8 (17W) OSFP112 transceivers support");
# - NIC side: the 400G single-port OSFP DR4 module in a ConnectX-7, 9 W maximum and 9 W
#   typical in 400G mode (NVIDIA MMS4X00-NS400 product specifications).
# Switch and NIC power without optics: no datasheet figure found, left out (docs/network.md).
NDR_400G_OPTICS = NetworkPowerFigures(
    nic_module_w=9.0, switch_module_w=17.0, ports_per_switch_module=2,
    source="NVIDIA MMS4X00-NS (twin-port 2x400G OSFP, 17 W) and MMS4X00-NS400 (400G OSFP, 9 W) product specifications",
)

# A Quantum-2 NDR fabric: the optics above plus the switch without its optics, the QM9700's
# (managed, 64 x 400G) "typical power with passive cables (ATIS)" of 747 W: with passive copper
# in every cage (0.1 W a cable end, MCP4Y10-Nxxx) that is the switch alone, ASIC, CPU, fans
# and power supplies. A secondary source: the figure as Canopy Wave's GPU-cloud product
# documentation lists it for the QM9700 ("System Power Usage: 747 W"; 640 W for the
# externally managed QM9790; 940 W "typical power with passive cables (ATIS)" for the
# Spectrum-4 SN5600); NVIDIA's own QM97xx power table was not reachable here (DATA_SOURCES.md).
# Typical, not a function of traffic: the meter draws it constantly. The ConnectX-7 adapter
# without optics stays out (``nic_w`` None): no figure found, and the node's measured host
# power (AcmeTrace servers, dcsim/hardware/node.py) already holds its own NICs.
QM9700_SWITCH_W = 747.0
QUANTUM2_NDR = replace(
    NDR_400G_OPTICS, switch_w=QM9700_SWITCH_W,
    source=NDR_400G_OPTICS.source + "; QM9700 typical power with passive cables 747 W (secondary: Canopy Wave product "
                                    "documentation)",
)


@dataclass(frozen=True, slots=True)
class NetworkPower:
    """Watts of a scale-out fabric by part, and the parts left out for want of a figure."""

    transceivers_w: float
    switches_w: float
    nics_w: float
    omitted: tuple[str, ...]  # figure names that were None: their term is not in the total

    @property
    def total_w(self) -> float:
        """Every term that has a figure."""
        return self.transceivers_w + self.switches_w + self.nics_w


def network_power(tree: FatTree, figures: NetworkPowerFigures = NDR_400G_OPTICS) -> NetworkPower:
    """Power of a fat tree: modules x W per module + switches x W per switch + NIC ports x W per NIC.

    Counted in IT power. A figure that is None leaves its term out (named in ``omitted``).
    """
    omitted = tuple(name for name in ("nic_module_w", "switch_module_w", "switch_w", "nic_w")
                    if getattr(figures, name) is None)
    optics = (tree.nic_optical_ports * (figures.nic_module_w or 0.0)
              + tree.switch_transceivers(figures.ports_per_switch_module) * (figures.switch_module_w or 0.0))
    return NetworkPower(optics, tree.switches * (figures.switch_w or 0.0), tree.endpoints * (figures.nic_w or 0.0),
                        omitted)


__all__ = [
    "COLLECTIVES", "Collective", "FatTree", "HierarchicalAllReduce", "NDR_400G_OPTICS", "NetworkPower",
    "QM9700_SWITCH_W", "QUANTUM2_NDR",
    "NetworkPowerFigures", "ScaleOut", "ScaleUpDomain", "all_gather_s", "all_to_all_s", "collective_s", "fat_tree",
    "hierarchical_allreduce", "network_power", "reduce_scatter_s", "ring_allreduce_s",
]
