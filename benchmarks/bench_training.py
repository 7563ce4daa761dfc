"""Training benchmark (run on request): a 16,384-GPU H100 job training a 405B dense model
for 54 simulated days, with Llama 3 failure rates and Young/Daly checkpoints
(``dcsim +experiment=llama3_405b``).

    python benchmarks/bench_training.py

Prints wall time of the simulation alone, events, interruptions and the job's figures.
"""

from __future__ import annotations

import time

from dcsim.api import compose_config
from dcsim.config.build import build

# conf/experiment/llama3_405b.yaml: Meta's layout, Llama 3 failure rates, Young/Daly
# checkpoints to 2 TB/s storage
LLAMA3_405B = ["+experiment=llama3_405b", "output.write=false"]


def main() -> None:
    scenario = build(compose_config(LLAMA3_405B + [f"duration_s={54 * 86400}"]))
    t0 = time.perf_counter()
    r = scenario.run()
    wall = time.perf_counter() - t0
    s, job, spec = r.summary(), r.frames()["jobs"].iloc[0], scenario.jobs[0]
    print(f"54 days, 16,384 GPUs: {wall:.2f} s wall, {r.events_processed} events")
    print(f"step {spec.step.time_s:.2f} s, MFU {spec.step.mfu:.3f}, steps {int(job['steps_done'])} of {spec.steps}, "
          f"interruptions {int(job['restarts'])}, effective share {job['effective_share']:.3f}, "
          f"checkpoint every {spec.checkpoint_interval_s:.0f} s ({spec.checkpoint_write_s:.0f} s write)")
    print(f"facility {s['facility_energy_j'] / 3.6e9:,.0f} MWh, PUE {s['pue']:.3f}, "
          f"carbon {s['carbon_kg'] / 1e3:,.0f} t, cost ${s['cost_total_usd'] / 1e6:.1f} M")


if __name__ == "__main__":
    main()
