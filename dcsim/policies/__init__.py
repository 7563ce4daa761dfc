"""Decisions only: each policy takes a read-only view and returns decisions."""

from dcsim.policies.registry import ROUTERS, SCHEDULERS

__all__ = ["ROUTERS", "SCHEDULERS"]
