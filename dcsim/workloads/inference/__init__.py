"""LLM inference: requests, arrivals, the replica engine and the service."""
