"""Decisions only: each policy takes a read-only view and returns decisions."""

from dcsim.policies.registry import PLACEMENTS, ROUTERS, SCHEDULERS

__all__ = ["PLACEMENTS", "ROUTERS", "SCHEDULERS"]
