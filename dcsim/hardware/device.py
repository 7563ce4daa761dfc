"""One GPU type as the workloads see it: time and power of work, under an optional power cap.

The engine asks a :class:`DeviceModel` for the time and per-GPU power of an
iteration; the roofline (``performance``), the power model (``power``) and the
power cap all meet here, so a cap slows the work through the same path whatever
imposed it (a static cap, a capping policy, a thermal limit).

**Cap.** When an iteration would draw more than ``cap_w`` at full clock, the GPU lowers
its SM clock to the fraction ``f`` at which it draws exactly the cap (found by
bisection, elementwise on arrays). At clock ``f`` the roofline's compute time becomes
``compute_s / f``; the memory time stays (HBM keeps its clock), and so do
communication and fixed overheads. A compute-bound prefill therefore slows by about
``1 / f`` while a memory-bound decode, whose compute hides under its weight streaming,
barely slows; the power at clock ``f`` follows :meth:`GpuPowerModel.power_at_clock_w`
(the clock domain's power falls as ``f v(f)^2`` with the catalogue's voltage curve, the
HBM's own share of the memory activity's does not). If even the lowest clock (``min_clock``) draws more than the cap,
the GPU also idles part of the time (duty cycling) so that the average meets the cap.
The model is checked against measured H100 cap sweeps (``python -m
dcsim.hardware.capsweep``, docs/calibration.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dcsim.hardware.gpus import GpuSpec
from dcsim.hardware.models import LlmSpec
from dcsim.hardware.performance import (
    ACT_BYTES,
    Fabric,
    InferencePerfParams,
    comm_terms,
    context_overhead_s,
    iteration_cost,
    moe_padding_flops,
    peak_flops_for,
)
from dcsim.hardware.power import GpuPowerModel
from dcsim.hardware.profiles import load_profile

_BISECTION_STEPS = 48
  # clock resolution 2**-48 of the search interval
_PADDING_MEMO_SIZE = 1 << 16  # distinct (model, token count) pairs kept


@dataclass(frozen=True)
class DeviceModel:
    """Performance and power of one GPU type, optionally power-capped."""

    gpu: GpuSpec
    perf: InferencePerfParams
    power: GpuPowerModel
    cap_w: float | None = None  # per-GPU power cap; None: TDP
    engine: str | None = None  # the engine profile perf and power come from (None: set by hand)
    # the scale-up domain and scale-out network of the facility; None: a replica's GPUs share one domain
    fabric: Fabric | None = None
    # constants of iteration_scalar folded per (model, TP), filled on first use
    _folded: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    # a MoE's tile-padding FLOPs per (model name, new tokens), memoised for the scalar path
    _moe_padding: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    # devices of the same GPU under other caps, made on first use
    _capped: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.cap_w is not None and not self.cap_w > self.gpu.idle_w:
            raise ValueError(f"cap_w must exceed the idle power of {self.gpu.name} ({self.gpu.idle_w:g} W), "
                             f"got {self.cap_w!r}")

    @classmethod
    def for_gpu(cls, gpu: GpuSpec, cap_w: float | None = None, engine: str | None = None,
                fabric: Fabric | None = None) -> DeviceModel:
        """The calibrated device of a GPU type under an engine profile (default: the newest)."""
        prof = load_profile(gpu.name, engine)
        return cls(gpu, prof.perf, GpuPowerModel.from_profile(gpu, prof.power), cap_w, prof.engine, fabric)

    def with_engine(self, engine: str | None) -> DeviceModel:
        """This GPU, under the same cap, with another engine profile's constants (None: the default)."""
        engine = engine or load_profile(self.gpu.name).engine
        if engine == self.engine:
            return self
        return DeviceModel.for_gpu(self.gpu, self.cap_w, engine, self.fabric)

    def with_cap(self, cap_w: float | None) -> DeviceModel:
        """This device under another per-GPU cap (None: uncapped); the same object for the same cap."""
        if cap_w == self.cap_w:
            return self
        dev = self._capped.get(cap_w)
        if dev is None:
            dev = self._capped[cap_w] = DeviceModel(self.gpu, self.perf, self.power, cap_w, self.engine, self.fabric)
        return dev

    def iteration(self, model: LlmSpec, tp: int, new_tokens, attn_pairs, kv_read_tokens, decode_seqs, ep: int = 1):
        """(time_s, power_w per GPU) of an engine iteration of a replica of tp x ep GPUs; arrays in, arrays out."""
        cost, power_w = self._uncapped(model, tp, new_tokens, attn_pairs, kv_read_tokens, decode_seqs, ep)
        if self.cap_w is None or not np.any(power_w > self.cap_w):
            return cost.time_s, power_w
        return self._throttled(cost.time_s, cost.compute_s, cost.memory_s, power_w)[:2]

    def iteration_with_clock(self, model: LlmSpec, tp: int, new_tokens, attn_pairs, kv_read_tokens, decode_seqs,
                             ep: int = 1):
        """:meth:`iteration`'s (time_s, power_w) and the relative SM clock the iterations run at
        (1 where the cap does not bind; ``min_clock`` where the GPU duty-cycles)."""
        cost, power_w = self._uncapped(model, tp, new_tokens, attn_pairs, kv_read_tokens, decode_seqs, ep)
        if self.cap_w is None or not np.any(power_w > self.cap_w):
            return cost.time_s, power_w, np.ones_like(np.asarray(power_w, dtype=np.float64))[()]
        return self._throttled(cost.time_s, cost.compute_s, cost.memory_s, power_w)

    def _uncapped(self, model: LlmSpec, tp: int, new_tokens, attn_pairs, kv_read_tokens, decode_seqs, ep: int):
        """The roofline cost of the iterations and their power per GPU at full clock."""
        cost = iteration_cost(model, self.gpu, tp, self.perf, new_tokens, attn_pairs, kv_read_tokens, decode_seqs,
                              ep, self.fabric)
        return cost, self.power.iteration_w(cost.time_s, cost.compute_s, cost.memory_s)

    def _throttled(self, time_s, compute_s, memory_s, power_w):
        """Time, power and clock of iterations at the clock at which they draw the cap (module docstring)."""
        t, c, m, p = (np.asarray(a, dtype=np.float64) for a in np.broadcast_arrays(time_s, compute_s, memory_s, power_w))
        over = p > self.cap_w
        t_o, c_o, m_o = t[over], c[over], m[over]
        rest_o = t_o - np.maximum(c_o, m_o)

        def at_clock(f):
            t_f = np.maximum(c_o / f, m_o) + rest_o
            return t_f, self.power.power_at_clock_w(t_f, c_o / f, m_o, f)

        lo = np.full(t_o.shape, self.power.min_clock)
        hi = np.ones(t_o.shape)
        t_lo, p_lo = at_clock(lo)
        reachable = p_lo <= self.cap_w
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            p_mid = at_clock(mid)[1]
            fits = p_mid <= self.cap_w
            lo = np.where(fits & reachable, mid, lo)
            hi = np.where(fits | ~reachable, hi, mid)
        t_f, p_f = at_clock(lo)
        # Below the lowest clock the GPU duty-cycles: busy share d of the time at min_clock, idle otherwise.
        duty = np.where(reachable, 1.0, (self.cap_w - self.gpu.idle_w) / (p_f - self.gpu.idle_w))
        t[over] = t_f / duty
        p[over] = np.where(reachable, p_f, self.cap_w)
        clock = np.ones_like(t)
        clock[over] = lo
        return t[()], p[()], clock[()]

    def iteration_scalar(self, model: LlmSpec, tp: int, new_tokens: float, attn_pairs: float,
                         kv_read_tokens: float, decode_seqs: float, ep: int = 1) -> tuple[float, float]:
        """:meth:`iteration` for one iteration, in plain floats (the engine's hot path).

        The same formulas with the per-(model, TP, EP) constants folded once; it agrees with
        :meth:`iteration` to rounding. A binding cap takes the general path.
        """
        k = self._coefficients(model, tp, ep)
        seqs = decode_seqs if decode_seqs > 1.0 else 1.0
        compute_s = k[0] * new_tokens + k[1] * attn_pairs
        memory_s = k[2] + k[3] * kv_read_tokens + k[14] * decode_seqs
        if k[12]:  # sliding-window layers: each sequence reads at most the window
            win = seqs * k[13]
            memory_s += k[12] * (kv_read_tokens if kv_read_tokens < win else win)
            pairs_win = seqs * k[13]
            compute_s += k[15] * ((attn_pairs if attn_pairs < pairs_win else pairs_win) - attn_pairs)
        if k[10]:  # mixture of experts: the experts the new tokens are routed to, their tiles' padding rows
            memory_s += k[10] * (1.0 - k[11] ** new_tokens)
            compute_s += k[22] * self._padding_flops(model, new_tokens)
        roof_s = compute_s if compute_s > memory_s else memory_s
        time_s = (roof_s + k[4] + k[5] * new_tokens + k[6] + k[7] * decode_seqs
                  + (k[8] if new_tokens > decode_seqs else 0.0)
                  + (k[16] * kv_read_tokens / seqs if decode_seqs > 0.0 else 0.0))
        if k[17]:  # expert-parallel all-to-all: the slower of its NVLink and NIC lines
            up, out = k[18] + k[19] * new_tokens, k[20] + k[21] * new_tokens
            time_s += up if up > out else out
        pm = self.power
        busy = pm.compute_weight * compute_s + pm.memory_weight * memory_s + pm.overhead_weight * (time_s - roof_s)
        activity = busy / time_s
        power_w = pm.floor_w + k[9] * (activity if activity < 1.0 else 1.0)
        if self.cap_w is not None and power_w > self.cap_w:
            return self._throttled_scalar(time_s, compute_s, memory_s)
        return time_s, power_w

    def decode_points(self, model: LlmSpec, tp: int, seqs: int, ctx0: float, ctx_mid: float, ctx_last: float,
                      ep: int = 1) -> tuple[float, float, float, float]:
        """A decode segment's three probes in one call: ``(t0, p0, t_mid, t_last)``, the time
        and power of a decode iteration of ``seqs`` sequences over a cache of ``ctx0`` tokens
        and the times at ``ctx_mid`` and ``ctx_last`` (:meth:`iteration_scalar` each).

        Without a cap, sliding windows, experts or an all-to-all (a dense model), the times
        are :meth:`iteration_scalar`'s operations in its order with the terms that do not
        depend on the context computed once: the same floats. Otherwise it calls
        :meth:`iteration_scalar` three times.
        """
        k = self._coefficients(model, tp, ep)
        if self.cap_w is not None or k[12] or k[10] or k[17]:
            one = self.iteration_scalar
            t0, p0 = one(model, tp, seqs, ctx0, ctx0, seqs, ep)
            return (t0, p0, one(model, tp, seqs, ctx_mid, ctx_mid, seqs, ep)[0],
                    one(model, tp, seqs, ctx_last, ctx_last, seqs, ep)[0])
        # iteration_scalar with new_tokens = decode_seqs = seqs >= 1, attn_pairs = kv_read_tokens = ctx
        c_new, m_fixed, k1, k3, k16 = k[0] * seqs, k[2], k[1], k[3], k[16]
        m_seqs = k[14] * seqs
        k4, k5_seqs, k6, k7_seqs = k[4], k[5] * seqs, k[6], k[7] * seqs
        compute_s = c_new + k1 * ctx_mid
        memory_s = m_fixed + k3 * ctx_mid + m_seqs
        t_mid = (compute_s if compute_s > memory_s else memory_s) + k4 + k5_seqs + k6 + k7_seqs + 0.0 + k16 * ctx_mid / seqs
        compute_s = c_new + k1 * ctx_last
        memory_s = m_fixed + k3 * ctx_last + m_seqs
        t_last = ((compute_s if compute_s > memory_s else memory_s) + k4 + k5_seqs + k6 + k7_seqs + 0.0
                  + k16 * ctx_last / seqs)
        compute_s = c_new + k1 * ctx0
        memory_s = m_fixed + k3 * ctx0 + m_seqs
        roof_s = compute_s if compute_s > memory_s else memory_s
        time_s = roof_s + k4 + k5_seqs + k6 + k7_seqs + 0.0 + k16 * ctx0 / seqs
        pm = self.power
        busy = pm.compute_weight * compute_s + pm.memory_weight * memory_s + pm.overhead_weight * (time_s - roof_s)
        activity = busy / time_s
        return time_s, pm.floor_w + k[9] * (activity if activity < 1.0 else 1.0), t_mid, t_last

    def _throttled_scalar(self, time_s: float, compute_s: float, memory_s: float) -> tuple[float, float]:
        """:meth:`_throttled` for one iteration in plain floats (the same bisection, step for step)."""
        pm, cap, idle, rng = self.power, self.cap_w, self.gpu.idle_w, self.power.dynamic_range_w
        assert cap is not None, "only a capped device throttles"
        floor_above_idle = pm.floor_w - idle
        rest = time_s - (compute_s if compute_s > memory_s else memory_s)
        wc, wo, hbm = pm.compute_weight, pm.overhead_weight, pm.hbm_weight
        unclocked = hbm * memory_s
        memory_clocked = (pm.memory_weight - hbm) * memory_s
        v_min, slope = self.gpu.dvfs_min_voltage, self.gpu.dvfs_voltage_slope

        def at_clock(f: float) -> tuple[float, float]:  # GpuPowerModel.power_at_clock_w in floats
            c = compute_s / f
            roof = c if c > memory_s else memory_s
            t_f = roof + rest
            clocked = wc * c + memory_clocked + wo * (t_f - roof)
            v = 1.0 - slope * (1.0 - f)
            share = f * (v if v > v_min else v_min) ** 2
            saturation = (clocked + unclocked) / t_f
            return t_f, idle + floor_above_idle * share + rng * (clocked * share + unclocked) / (
                t_f * (saturation if saturation > 1.0 else 1.0))

        lo, hi = pm.min_clock, 1.0
        reachable = at_clock(lo)[1] <= cap
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            if at_clock(mid)[1] <= cap:
                if reachable:
                    lo = mid
            elif reachable:
                hi = mid
        t_f, p_f = at_clock(lo)
        if reachable:
            return t_f, p_f
        return t_f / ((cap - idle) / (p_f - idle)), cap

    def _padding_flops(self, model: LlmSpec, new_tokens: float) -> float:
        """:func:`moe_padding_flops` for one iteration, memoised: an engine sees few distinct token counts."""
        key = (model.name, new_tokens)
        v = self._moe_padding.get(key)
        if v is None:
            if len(self._moe_padding) >= _PADDING_MEMO_SIZE:
                self._moe_padding.clear()
            v = self._moe_padding[key] = float(moe_padding_flops(model, new_tokens))
        return v

    def _coefficients(self, model: LlmSpec, tp: int, ep: int = 1) -> tuple[float, ...]:
        key = (model.name, tp, ep)
        k = self._folded.get(key)
        if k is None:
            g, pp = self.gpu, self.perf
            flops_s = tp * ep * peak_flops_for(model, g) * pp.compute_efficiency
            bytes_s = g.hbm_bw_bytes_per_s * pp.weight_efficiency(model.weight_precision)
            expert_bytes_s = g.hbm_bw_bytes_per_s * pp.weight_efficiency(model.expert_precision or model.weight_precision)
            kv_bytes_s = g.hbm_bw_bytes_per_s * pp.kv_efficiency
            copies = model.kv_bytes_per_token_on(tp) / model.kv_bytes_per_token if model.kv_bytes_per_token else 1.0
            window = float(model.sliding_window) if model.sliding_window else 0.0
            win_share = (model.sliding_window_layers / (model.attention_layers or model.layers)
                         if window and model.sliding_window_layers else 0.0)
            comm0 = comm1 = 0.0
            a2a: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
            if ep == 1 and (self.fabric is None or tp <= self.fabric.domain_gpus):
                if tp > 1:  # tp_comm_s split into a constant and a per-token term
                    one_way = g.nvlink_bw_bytes_per_s / 2.0 * pp.allreduce_bw_efficiency
                    comm0 = 2 * model.layers * 2 * (tp - 1) * pp.allreduce_hop_latency_s
                    comm1 = 2 * model.layers * 2.0 * (tp - 1) / tp * model.hidden * ACT_BYTES / one_way
            else:  # across domains, or expert parallel: performance.comm_terms, already folded
                c = comm_terms(model, g, tp, pp, ep, self.fabric)
                comm0, comm1 = c.fixed_s, c.per_token_s
                if c.up_s or c.up_per_token_s or c.out_s or c.out_per_token_s:
                    a2a = (1.0, c.up_s, c.up_per_token_s, c.out_s, c.out_per_token_s)
            k = (
                2.0 * model.active_params / flops_s, model.attn_flops_per_token_per_ctx / flops_s,
                model.dense_weight_bytes / tp / bytes_s, model.full_kv_bytes_per_token * copies / tp / ep / kv_bytes_s,
                comm0, comm1, model.layers * pp.layer_overhead_s, pp.per_seq_overhead_s / ep, pp.prefill_overhead_s,
                self.power.dynamic_range_w,
                # weight_bytes_read(T) = dense + expert_bytes x E x (1 - (1 - k/E)^T)
                model.expert_bytes * model.num_experts / tp / ep / expert_bytes_s,
                1.0 - model.experts_per_token / model.num_experts if model.is_moe else 0.0,
                # sliding-window layers' KV bytes per kept token, the window, recurrent state per sequence
                model.window_kv_bytes_per_token * copies / tp / ep / kv_bytes_s if window else 0.0, window,
                2.0 * model.ssm_state_bytes_per_seq / tp / ep / kv_bytes_s,
                win_share * model.attn_flops_per_token_per_ctx / flops_s, context_overhead_s(model, pp) / tp,
                *a2a,
                1.0 / flops_s,  # seconds per FLOP, for the MoE tiles' padding rows
            )
            self._folded[key] = k
        return k

    def idle_w(self) -> float:
        """Power of an idle GPU."""
        return self.power.idle_w()

    def training_clock(self) -> float:
        """Relative SM clock of a training step under the cap (1 without a cap or below it):
        the clock at which :meth:`GpuPowerModel.training_w` meets the cap.

        Below ``min_clock`` the value is the effective clock of duty cycling at ``min_clock``.
        """
        pm = self.power
        uncapped_w = pm.training_w()
        if self.cap_w is None or uncapped_w <= self.cap_w:
            return 1.0
        idle = self.gpu.idle_w
        p_min = pm.training_w(pm.min_clock)
        if self.cap_w >= p_min:
            return pm.clock_at_share((self.cap_w - idle) / (uncapped_w - idle))
        return float(pm.min_clock * (self.cap_w - idle) / (p_min - idle))

    def training_slowdown(self) -> float:
        """Factor (>= 1) by which the cap stretches a training step; 1 without a cap.

        The compute of a training step is taken as compute-bound, so it slows as 1 / clock;
        exposed communication, which the clock does not slow, is kept apart by the job.
        """
        return 1.0 / self.training_clock()

    def training_w(self) -> float:
        """Power of a GPU during training, at most the cap."""
        uncapped_w = self.power.training_w()
        if self.cap_w is None:
            return uncapped_w
        return min(uncapped_w, float(self.cap_w))
