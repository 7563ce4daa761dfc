"""Specs of GPUs, nodes and LLMs, and the stateless physics of one device."""
