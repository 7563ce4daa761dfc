"""Workloads: the cluster's GPUs, inference services and training jobs."""
