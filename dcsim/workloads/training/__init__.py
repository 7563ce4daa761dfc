"""LLM training jobs."""
