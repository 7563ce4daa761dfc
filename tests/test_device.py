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
    models = [("Llama-2-7B", 1), ("Llama-3.1-70B", 4), ("BLOOM-176B", 8), ("Mixtral-8x7B", 2), ("DeepSeek-V3", 8)]
    for (name, tp), args in itertools.product(models, ITERATIONS):
        t, p = d.iteration(MODELS[name], tp, *args)
        ts, ps = d.iteration_scalar(MODELS[name], tp, *args)
        assert ts == pytest.approx(float(t), rel=1e-12)
        assert ps == pytest.approx(float(p), rel=1e-9)
        if cap is not None:
            assert ps <= cap * (1 + 1e-9)
