"""The device model's scalar hot path agrees with its general (array) path."""

from __future__ import annotations

import itertools

import pytest

from dcsim.hardware.device import DeviceModel
from dcsim.hardware.gpus import GPUS
from dcsim.hardware.models import MODELS

ITERATIONS = [(1, 1, 1, 0), (5000, 5000 * 2600, 5000, 0), (64, 64 * 2000, 64 * 2000, 64),
              (300, 300 * 1000 + 45000, 400, 32), (256, 256 * 9000, 256 * 9000, 256)]


@pytest.mark.parametrize("gpu,cap", [("H100-SXM", None), ("H100-SXM", 450.0), ("A100-80GB", None),
                                     ("A100-80GB", 250.0), ("B200", None)])
def test_scalar_path_equals_array_path(gpu, cap):
    """Same time and power to rounding, capped or not, for prefill, decode and mixed iterations,
    dense and mixture-of-experts models."""
    d = DeviceModel.for_gpu(GPUS[gpu], cap)
    models = [("Llama-2-7B", 1), ("Llama-3.1-70B", 4), ("BLOOM-176B", 8), ("Mixtral-8x7B", 2), ("DeepSeek-V3", 8),
              ("gpt-oss-120b", 2)]
    for (name, tp), args in itertools.product(models, ITERATIONS):
        t, p = d.iteration(MODELS[name], tp, *args)
        ts, ps = d.iteration_scalar(MODELS[name], tp, *args)
        assert ts == pytest.approx(float(t), rel=1e-12)
        assert ps == pytest.approx(float(p), rel=1e-9)
        if cap is not None:
            assert ps <= cap * (1 + 1e-9)


@pytest.mark.parametrize("gpu,cap", [("H100-SXM", None), ("A100-80GB", None), ("A100-80GB", 250.0)])
def test_decode_points_are_iteration_scalar_bit_for_bit(gpu, cap):
    """The engine's decode-segment probes in one call give exactly the floats of three
    iteration_scalar calls (dense models take the folded path, the others the general one),
    on both sides of the compute/memory roofline crossing."""
    d = DeviceModel.for_gpu(GPUS[gpu], cap)
    for name, tp in [("Llama-2-7B", 1), ("Llama-3.1-70B", 4), ("Mixtral-8x7B", 2), ("DeepSeek-V3", 8)]:
        m = MODELS[name]
        for b, ctx0, n in [(1, 1, 2), (7, 7 * 1500, 40), (128, 128 * 1024, 91), (512, 512 * 64, 3000)]:
            mid, last = ctx0 + b * ((n - 1) // 2), ctx0 + b * (n - 1)
            got = d.decode_points(m, tp, b, ctx0, mid, last)
            t0, p0 = d.iteration_scalar(m, tp, b, ctx0, ctx0, b)
            want = (t0, p0, d.iteration_scalar(m, tp, b, mid, mid, b)[0], d.iteration_scalar(m, tp, b, last, last, b)[0])
            assert got == want, (name, b, ctx0, n)


@pytest.mark.parametrize("tp", [1, 2])
def test_attention_sinks_skip_the_context_overhead(tp):
    """gpt-oss (attention sinks) runs on the engine's sink-capable kernels: its B200 decode
    iteration is the same model without sinks minus context_overhead_s x mean context / tp,
    on the array path and on the scalar hot path."""
    from dataclasses import replace

    d = DeviceModel.for_gpu(GPUS["B200"])
    sinks = MODELS["gpt-oss-120b"]
    plain = replace(sinks, name="gpt-oss-120b without sinks", attention_sinks=False)  # device caches key on names
    assert sinks.attention_sinks and d.perf.context_overhead_s > 0
    batch, context = 64, 3000
    args = (batch, batch * context, batch * context, batch)
    want = d.perf.context_overhead_s * context / tp
    assert float(d.iteration(plain, tp, *args)[0] - d.iteration(sinks, tp, *args)[0]) == pytest.approx(want, rel=1e-9)
    assert d.iteration_scalar(plain, tp, *args)[0] - d.iteration_scalar(sinks, tp, *args)[0] == pytest.approx(
        want, rel=1e-9)
