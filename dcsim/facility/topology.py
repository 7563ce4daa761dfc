"""Racks of nodes of GPUs, and the ids that address them."""

from __future__ import annotations

from dataclasses import dataclass, replace

from dcsim.hardware.gpus import GpuSpec
from dcsim.hardware.node import NodeSpec


@dataclass(frozen=True)
class Topology:
    """``num_racks`` racks, each of ``nodes_per_rack`` identical nodes.

    GPUs are numbered ``0 .. gpus_total - 1`` node by node, nodes rack by rack. A
    scale-up domain (the GPUs NVLink joins) is ``nodes_per_domain`` consecutive nodes of
    one rack: the node itself unless ``scaleup_domain_gpus`` says more (an NVL72 rack).

    A mixed fleet: the last racks may hold other GPUs (``rack_groups``: (GPU, racks) in
    order, after the racks of ``node.gpu``), nodes of the same shape and host power.
    Per-rack quantities read the rack's own node (:meth:`node_of_rack`).
    """

    num_racks: int  # every rack, those of rack_groups included
    nodes_per_rack: int
    node: NodeSpec
    scaleup_domain_gpus: int | None = None  # None: the node's GPUs
    rack_groups: tuple[tuple[GpuSpec, int], ...] = ()  # (GPU, racks) after the racks of node.gpu

    def __post_init__(self) -> None:
        d, g = self.scaleup_domain_gpus, self.node.gpus_per_node
        if d is not None and (d < g or d % g or self.gpus_per_rack % d):
            raise ValueError(f"scaleup_domain_gpus must be whole nodes of {g} GPUs dividing the rack's "
                             f"{self.gpus_per_rack}, got {d!r}")
        names = [self.node.gpu.name] + [gpu.name for gpu, _ in self.rack_groups]
        if len(set(names)) != len(names) or any(n < 1 for _, n in self.rack_groups) or self.base_racks < 1:
            raise ValueError(f"rack_groups must be distinct GPUs other than {names[0]}, each of >= 1 rack, leaving "
                             f">= 1 rack of {names[0]}: got {[(gpu.name, n) for gpu, n in self.rack_groups]} of "
                             f"{self.num_racks} racks")

    # -- GPU types (a mixed fleet) ---------------------------------------------------
    @property
    def base_racks(self) -> int:
        """Racks of ``node.gpu``: the first ones."""
        return self.num_racks - sum(n for _, n in self.rack_groups)

    @property
    def gpu_types(self) -> tuple[GpuSpec, ...]:
        """The facility's GPU types, ``node.gpu`` first."""
        return (self.node.gpu, *(gpu for gpu, _ in self.rack_groups))

    @property
    def mixed(self) -> bool:
        """True when racks hold more than one GPU type."""
        return bool(self.rack_groups)

    def racks_of_type(self, gpu: str) -> range:
        """The racks holding GPU ``gpu`` (consecutive; empty if none does)."""
        first = self.base_racks
        if gpu == self.node.gpu.name:
            return range(first)
        for spec, n in self.rack_groups:
            if spec.name == gpu:
                return range(first, first + n)
            first += n
        return range(0)

    def nodes_of_type(self, gpu: str) -> range:
        """The nodes holding GPU ``gpu`` (consecutive)."""
        racks = self.racks_of_type(gpu)
        return range(racks.start * self.nodes_per_rack, racks.stop * self.nodes_per_rack)

    def node_of_rack(self, rack: int) -> NodeSpec:
        """The node spec (its GPU) of the nodes in ``rack``."""
        first = self.base_racks
        if rack < first:
            return self.node
        for gpu, n in self.rack_groups:
            if rack < first + n:
                return replace(self.node, gpu=gpu)
            first += n
        raise IndexError(f"rack {rack} of {self.num_racks}")

    def of_type(self, gpu: str) -> Topology:
        """The racks of one GPU type as a facility of their own (per-type checks and models)."""
        racks = self.racks_of_type(gpu)
        if not racks:
            raise ValueError(f"no racks of {gpu}: the facility has {[g.name for g in self.gpu_types]}")
        return Topology(len(racks), self.nodes_per_rack, self.node_of_rack(racks.start), self.scaleup_domain_gpus)

    @property
    def domain_gpus(self) -> int:
        """GPUs of one scale-up domain."""
        return self.node.gpus_per_node if self.scaleup_domain_gpus is None else self.scaleup_domain_gpus

    @property
    def nodes_per_domain(self) -> int:
        """Nodes of one scale-up domain (1: the node is the domain)."""
        return self.domain_gpus // self.node.gpus_per_node

    @property
    def num_nodes(self) -> int:
        return self.num_racks * self.nodes_per_rack

    @property
    def gpus_per_rack(self) -> int:
        return self.nodes_per_rack * self.node.gpus_per_node

    @property
    def gpus_total(self) -> int:
        return self.num_nodes * self.node.gpus_per_node

    def rack_of_node(self, node: int) -> int:
        return node // self.nodes_per_rack

    def node_of_gpu(self, gpu: int) -> int:
        return gpu // self.node.gpus_per_node

    def gpus_of_node(self, node: int) -> range:
        g = self.node.gpus_per_node
        return range(node * g, (node + 1) * g)

    @staticmethod
    def rack_name(rack: int) -> str:
        return f"rack/{rack:03d}"

    @property
    def it_nameplate_w(self) -> float:
        """IT power with every node at nameplate."""
        if not self.rack_groups:
            return self.num_nodes * self.node.nameplate_w
        return sum(self.of_type(gpu.name).it_nameplate_w for gpu in self.gpu_types)
