"""Racks of nodes of GPUs, and the ids that address them."""

from __future__ import annotations

from dataclasses import dataclass

from dcsim.hardware.node import NodeSpec


@dataclass(frozen=True)
class Topology:
    """``num_racks`` racks, each of ``nodes_per_rack`` identical nodes.

    GPUs are numbered ``0 .. gpus_total - 1`` node by node, nodes rack by rack. A
    scale-up domain (the GPUs NVLink joins) is ``nodes_per_domain`` consecutive nodes of
    one rack: the node itself unless ``scaleup_domain_gpus`` says more (an NVL72 rack).
    """

    num_racks: int
    nodes_per_rack: int
    node: NodeSpec
    scaleup_domain_gpus: int | None = None  # None: the node's GPUs

    def __post_init__(self) -> None:
        d, g = self.scaleup_domain_gpus, self.node.gpus_per_node
        if d is not None and (d < g or d % g or self.gpus_per_rack % d):
            raise ValueError(f"scaleup_domain_gpus must be whole nodes of {g} GPUs dividing the rack's "
                             f"{self.gpus_per_rack}, got {d!r}")

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
        return self.num_nodes * self.node.nameplate_w
