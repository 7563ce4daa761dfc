"""Training jobs: gang scheduling, FIFO order, and the step-time model."""

from __future__ import annotations

import pytest

import dcsim
from dcsim.hardware.gpus import GPUS
from dcsim.hardware.models import MODELS
from dcsim.hardware.performance import training_step

H100 = GPUS["H100-SXM"]


def test_fifo_queue_timeline():
    """A job that needs GPUs held by an earlier one starts the instant they are released,
    and every job ends exactly steps x step time after it starts."""
    r = dcsim.run([
        "workload=training_only", "duration_s=7200",
        "workload.training.pretrain_8b.gpus=128", "workload.training.pretrain_8b.steps=300",
        "workload.training.finetune_70b.gpus=64", "workload.training.sft_7b.gpus=32",
    ])
    jobs = r.frames()["jobs"].set_index("name")
    a, b, c = jobs.loc["pretrain_8b"], jobs.loc["finetune_70b"], jobs.loc["sft_7b"]
    assert a["t_start_s"] == 0.0
    assert b["t_start_s"] == a["t_end_s"] and c["t_start_s"] == a["t_end_s"]  # both fit once 128 GPUs free
    for j in (a, b, c):
        assert j["t_end_s"] == pytest.approx(j["t_start_s"] + j["steps"] * j["step_time_s"], rel=1e-12)
        assert j["status"] == "completed"
    assert b["wait_s"] == pytest.approx(a["t_end_s"] - 300.0)


def test_head_of_line_blocks_under_fifo():
    """Strict FIFO: a small job queued behind a large one waits even if it would fit."""
    r = dcsim.run([
        "workload=training_only", "duration_s=7200",
        "workload.training.pretrain_8b.gpus=64",          # t=0, runs
        "workload.training.finetune_70b.gpus=128",        # t=300, needs everything: head of line
        "workload.training.sft_7b.gpus=8",                # t=600, would fit but must wait
    ])
    jobs = r.frames()["jobs"].set_index("name")
    assert jobs.loc["finetune_70b", "t_start_s"] == jobs.loc["pretrain_8b", "t_end_s"]
    assert jobs.loc["sft_7b", "t_start_s"] >= jobs.loc["finetune_70b", "t_start_s"]


def test_step_time_is_compute_when_communication_hides():
    """6 N T FLOPs at the compute efficiency; a fully hidden all-reduce costs nothing,
    so MFU equals the compute efficiency."""
    m = MODELS["Llama-3.1-8B"]
    s = training_step(m, H100, 64, 4 * 2**20, 0.4, 64, 50e9, 1.0)
    assert s.compute_s == pytest.approx(6 * m.params * 4 * 2**20 / (64 * H100.peak_bf16_flops * 0.4))
    assert s.exposed_comm_s == 0.0
    assert s.mfu == pytest.approx(0.4)


def test_exposed_communication_lowers_mfu():
    """With no overlap the ring all-reduce of BF16 gradients adds 2 (dp-1)/dp x bytes / bandwidth."""
    m = MODELS["Llama-3.1-8B"]
    s = training_step(m, H100, 64, 4 * 2**20, 0.4, 64, 50e9, 0.0)
    allreduce = 2 * 63 / 64 * m.params * 2 / 50e9
    assert s.exposed_comm_s == pytest.approx(allreduce)
    assert s.time_s == pytest.approx(s.compute_s + allreduce)
    assert s.mfu < 0.4
