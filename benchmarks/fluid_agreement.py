"""Fluid against request fidelity on one scenario, the table of docs/performance.md.

    python benchmarks/fluid_agreement.py

8 replicas of Llama-3.1-70B at TP 4 on H100 (the default engine profile), Azure
conversation length distributions, Poisson arrivals at 10-90 % of the modelled capacity,
30 simulated minutes per point; prints the markdown table. Then the workload shapes
(``workload=chat``, ``reasoning``, ``code_completion``, ``multimodal_chat`` with an image
and with a video per request: one rack, their preset rates, one simulated hour each), the
second table of docs/performance.md.
"""

from __future__ import annotations

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.workloads.inference.fluid import ReplicaModel

CHAT = ["workload=inference_only", "workload.services.chat.replicas=8", "workload.services.chat.tp=4",
        "duration_s=1800", "output.write=false"]


VIDEO = ["workload.services.vision.images_per_request=0", "workload.services.vision.video_frames=32",
         "workload.services.vision.output_tokens.histogram=Qwen/Qwen3-VL-30B-A3B-Instruct:video-chat",
         "workload.services.vision.arrival_rate_per_s=16"]
SHAPES = (("chat", "chat", []), ("reasoning", "reasoning", []), ("code_completion", "code", []),
          ("multimodal_chat", "vision", []), ("multimodal_chat", "vision", VIDEO))


def capacity_per_s() -> float:
    sc = build(compose_config(CHAT))
    s = sc.services[0][0]
    one = ReplicaModel.of_service(sc.device, s).capacity_per_s
    return 8 * one


def main() -> None:
    cap = capacity_per_s()
    print(f"modelled capacity {cap:.1f} requests/s\n")
    print("| load | tokens/s request / fluid | J per token (GPU) | TTFT p50 (s) | TPOT p50 (ms) |")
    print("|---|---|---|---|---|")
    for load in (0.1, 0.3, 0.5, 0.7, 0.9):
        rate = f"workload.services.chat.arrival_rate_per_s={load * cap}"
        r, f = (dcsim.run(CHAT + [rate, f"workload.services.chat.fidelity={fid}"]).summary()
                for fid in ("request", "fluid"))
        print(f"| {load:.0%} | {r['output_tokens_per_s']:,.0f} / {f['output_tokens_per_s']:,.0f} "
              f"| {r['energy_per_output_token_gpu_j']:.2f} / {f['energy_per_output_token_gpu_j']:.2f} "
              f"| {r['ttft_p50_s']:.3f} / {f['ttft_p50_s']:.3f} | {1e3 * r['tpot_p50_s']:.1f} / {1e3 * f['tpot_p50_s']:.1f} |")
    print("\n| workload | tokens/s request / fluid | J per token (GPU) | TTFT p50 (s) | TPOT p50 (ms) |")
    print("|---|---|---|---|---|")
    for workload, service, extra in SHAPES:
        base = [f"workload={workload}", "facility.num_racks=1", "duration_s=3600", "output.write=false", *extra]
        r, f = (dcsim.run(base + [f"workload.services.{service}.fidelity={fid}"]).summary() for fid in ("request", "fluid"))
        name = workload + (", one 32-frame video, 16/s" if extra else "")
        print(f"| {name} | {r['output_tokens_per_s']:,.0f} / {f['output_tokens_per_s']:,.0f} "
              f"| {r['energy_per_output_token_gpu_j']:.3f} / {f['energy_per_output_token_gpu_j']:.3f} "
              f"| {r['ttft_p50_s']:.3f} / {f['ttft_p50_s']:.3f} | {1e3 * r['tpot_p50_s']:.1f} / {1e3 * f['tpot_p50_s']:.1f} |")


if __name__ == "__main__":
    main()
