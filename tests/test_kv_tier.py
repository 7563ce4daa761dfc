"""The prefix cache's LRU order and its CPU-memory tier: evict down, reload over the host link.

A replica's prefix cache in HBM is an LRU of KV blocks; with ``kv_cpu_tier_gb > 0`` the
blocks it evicts go to a host-memory LRU instead of being lost. A prompt whose leading
blocks are in either tier skips their prefill; those in the CPU tier first come back over
the GPUs' host link (tp x one-way host bandwidth: PCIe Gen5 x16 on an H100, 64 GB/s each
way), and that reload is part of the request's TTFT.
"""

from __future__ import annotations

import dataclasses

import pytest
from test_engine import DEVICE, GPU, MODEL, TP, cost, serve

from dcsim.core.errors import ConfigError
from dcsim.hardware.gpus import GpuFileError, spec_from_mapping
from dcsim.hardware.performance import prefill_attn_pairs
from dcsim.workloads.inference.engine import PrefixCache

A, B, C, D, E, F = 1, 2, 3, 4, 5, 6
BLOCK = 512


def cached(cache: PrefixCache) -> list[int]:
    """The blocks of a tier, least recently used first."""
    return list(cache._blocks)


def test_lru_evicts_the_least_recently_used_block():
    """Capacity 3: insert A, B, C; admitting A makes it recent; D evicts B (not A), E evicts C,
    F evicts A."""
    cache = PrefixCache(capacity_blocks=3, block_tokens=BLOCK)
    cache.insert((A, B, C))
    assert cache.hit_tokens((A,)) == BLOCK
    cache.insert((D,))
    assert cached(cache) == [C, A, D]
    cache.insert((E,))
    assert cached(cache) == [A, D, E]
    cache.insert((F,))
    assert cached(cache) == [D, E, F]


def test_evicted_blocks_go_to_the_cpu_tier_in_lru_order():
    """HBM of 2 blocks over a CPU tier of 2: A, B, C, D evict A then B down; E evicts C down,
    which pushes A (the CPU tier's least recent) out of both."""
    cpu = PrefixCache(capacity_blocks=2, block_tokens=BLOCK)
    hbm = PrefixCache(capacity_blocks=2, block_tokens=BLOCK, lower=cpu)
    hbm.insert((A, B, C, D))
    assert cached(hbm) == [C, D] and cached(cpu) == [A, B]
    hbm.insert((E,))
    assert cached(hbm) == [D, E] and cached(cpu) == [B, C]


def test_a_cache_lifetime_drops_blocks_idle_longer_than_it_and_a_use_renews_it():
    """Lifetime 10 s (a provider's prompt cache): A and B cached at t = 0; A used at 9 s lives
    on, B (idle since 0) is gone at 10.5 s; A, last used at 9 s, is gone at 19.5 s. Evicted to
    the CPU tier, a block keeps its time of last use there: C (last used at 0) goes down at 5 s
    and expires from the CPU tier at 10.5 s like the others."""
    now = [0.0]
    cpu = PrefixCache(capacity_blocks=4, block_tokens=BLOCK, ttl_s=10.0, clock=lambda: now[0])
    hbm = PrefixCache(capacity_blocks=2, block_tokens=BLOCK, lower=cpu, ttl_s=10.0, clock=lambda: now[0])
    hbm.insert((A, B))
    now[0] = 9.0
    assert hbm.take((A,)) == (1, 0)
    assert cached(hbm) == [B, A]
    now[0] = 10.5
    assert hbm.prefix_blocks((B,)) == 0 and hbm.prefix_blocks((A,)) == 1
    assert cached(hbm) == [A]
    now[0] = 19.5
    assert hbm.take((A,)) == (0, 0) and cached(hbm) == []
    now = [0.0]
    cpu = PrefixCache(capacity_blocks=4, block_tokens=BLOCK, ttl_s=10.0, clock=lambda: now[0])
    hbm = PrefixCache(capacity_blocks=1, block_tokens=BLOCK, lower=cpu, ttl_s=10.0, clock=lambda: now[0])
    hbm.insert((C,))
    now[0] = 5.0
    hbm.insert((D,))  # C down, last used at 0
    assert cached(hbm) == [D] and cpu._blocks[C] == 0.0
    now[0] = 10.5
    assert hbm.take((C,)) == (0, 0) and cached(cpu) == []
    with pytest.raises(ValueError, match="clock"):
        PrefixCache(capacity_blocks=1, block_tokens=BLOCK, ttl_s=1.0)


def test_a_reload_moves_blocks_back_up_and_the_prefix_spans_both_tiers():
    """The prefix is the leading blocks found in either tier; the CPU tier's come back to HBM
    (most recent), and HBM's least recent go down in their place. A routing peek reads HBM only."""
    cpu = PrefixCache(capacity_blocks=4, block_tokens=BLOCK)
    hbm = PrefixCache(capacity_blocks=3, block_tokens=BLOCK, lower=cpu)
    hbm.insert((A, B, C, D, E))  # A, B down
    assert cached(hbm) == [C, D, E] and cached(cpu) == [A, B]
    assert hbm.prefix_blocks((A, B, C)) == 0  # routing sees HBM only
    assert hbm.take((A, B, C, F)) == (3, 2)  # A, B from the CPU tier, C in HBM, F nowhere
    assert cached(hbm) == [C, A, B] and cached(cpu) == [D, E]
    assert hbm.take((F,)) == (0, 0)


def _tier_run(tier_gb: float, second_hashes=(A, B, C, 9)):
    """A at t=0 fills a 2-block HBM cache with a 4-block prompt (A, B go down); the second
    request at t=30 shares three leading blocks with it."""
    first = (0.0, 4 * BLOCK, 5, (A, B, C, D))
    second = (30.0, 4 * BLOCK, 5, second_hashes)
    # 0.06 x 20,000 tokens = 1,200 -> 2 blocks of 512 in HBM
    return serve([first, second], kv_capacity_tokens=20_000, prefix_cache_fraction=0.06, prefix_block_tokens=BLOCK,
                 kv_cpu_tier_gb=tier_gb)


def test_reload_time_is_inside_ttft():
    """Without the tier A and B are gone, so the second prompt prefills in full; with it,
    A and B reload over 8 x 64 GB/s of PCIe (bytes / bandwidth on an idle link), C is in HBM,
    and only the fourth block is prefilled: TTFT = reload + that prefill."""
    _, off, _ = _tier_run(0.0)
    assert list(off["cached_tokens"]) == [0, 0]
    results, on, svc = _tier_run(10.0)
    assert list(on["cached_tokens"]) == [0, 3 * BLOCK]
    reload_s = 2 * BLOCK * MODEL.kv_bytes_per_token / (TP * 64e9)
    prefill = cost(BLOCK, prefill_attn_pairs(BLOCK, 3 * BLOCK), 4 * BLOCK, 0)
    assert on.loc[1, "ttft_s"] == pytest.approx(reload_s + prefill, abs=1e-9)
    assert on.loc[1, "ttft_s"] < off.loc[1, "ttft_s"]
    assert svc.kv_cpu_tier_hit_tokens == 2 * BLOCK and svc.kv_cpu_tier_reloads == 1


def _conversations(tmp_path, tier_gb: float):
    """8 conversations of 4 turns on one replica whose HBM prefix cache holds 2 blocks: turn k's
    prompt is 2k blocks, the first 2(k - 1) the previous turn's, so without the tier nearly
    every history is evicted before its next turn."""
    rows = ["t_arrival_s,prompt_tokens,output_tokens,hash_ids"]
    for k in range(1, 5):
        for c in range(8):
            blocks = " ".join(str(1000 * c + j) for j in range(2 * k))
            rows.append(f"{(k - 1) * 20.0 + 0.5 * c},{2 * k * BLOCK},16,{blocks}")
    path = tmp_path / "conv.csv"
    path.write_text("\n".join(rows) + "\n")
    import dcsim

    S = "workload.services.chat"
    return dcsim.run(["workload=inference_only", f"{S}.replicas=1", f"{S}.arrivals.process=trace",
                      f"{S}.arrivals.trace_path={path}", f"{S}.prefix_cache_fraction=0.001",
                      f"{S}.kv_cpu_tier_gb={tier_gb}", "duration_s=100", "output.write=false"])


def test_the_summary_counts_cpu_tier_hits(tmp_path):
    """``prompt_tokens_cpu_tier_share`` is the reloaded tokens over the requests' prompt tokens;
    the tier turns evicted histories into hits that ``prompt_tokens_cached_share`` counts too."""
    off, on = _conversations(tmp_path, 0.0), _conversations(tmp_path, 100.0)
    so, sn = off.summary(), on.summary()
    q = on.frames()["requests"]
    assert (q["status"] == "completed").all() and len(q) == 32
    tier = on.run_info.services["chat"].final("chat").kv_cpu_tier_hit_tokens
    assert sn["prompt_tokens_cpu_tier_share"] == tier / q["prompt_tokens"].sum()
    # the trace's bound, 12 of each conversation's 20 blocks, all of it reloaded from the tier
    assert sn["prompt_tokens_cpu_tier_share"] == sn["prompt_tokens_cached_share"] == pytest.approx(0.6)
    assert sn["kv_cpu_tier_reloads"] == 24  # every later turn reloads its history
    assert so["prompt_tokens_cpu_tier_share"] == so["prompt_tokens_cached_share"] == 0
    assert so["kv_cpu_tier_reloads"] == 0
    assert sn["ttft_p50_s"] < so["ttft_p50_s"]


def test_a_reload_waits_while_the_batch_runs_on():
    """The reloading request holds its KV room but not the batch: on a GPU with a slow host
    link (1 GB/s, so the reload lasts several decode iterations) a request decoding on the
    replica keeps its iterations back to back, no gap as long as the reload; the reloaded
    one is admitted at once and gets its first token after the reload and its prefill."""
    slow = dataclasses.replace(DEVICE, gpu=dataclasses.replace(GPU, host_link_bw_bytes_per_s=1e9))
    long = (25.0, 600, 3000)  # decoding when the tiered request arrives at t=30
    first = (0.0, 4 * BLOCK, 5, (A, B, C, D))
    second = (30.0, 4 * BLOCK, 5, (A, B, C, 9))
    _, req, svc = serve([first, long, second], kv_capacity_tokens=20_000, prefix_cache_fraction=0.06,
                        prefix_block_tokens=BLOCK, kv_cpu_tier_gb=10.0, device=slow)
    assert (req["status"] == "completed").all()
    reload_s = 2 * BLOCK * MODEL.kv_bytes_per_token / (TP * 0.5e9)
    r = req.loc[2]
    assert r["cached_tokens"] == 3 * BLOCK and r["queue_delay_s"] < 0.05 < reload_s
    assert r["t_first_token_s"] - r["t_admitted_s"] > reload_s + cost(BLOCK, prefill_attn_pairs(BLOCK, 3 * BLOCK),
                                                                      4 * BLOCK, 0)
    assert svc.itl.percentiles([100])[0] < reload_s
    assert svc.itl.count == (req["output_tokens"] - 1).sum()
    assert svc.itl.total_s == pytest.approx((req["t_done_s"] - req["t_first_token_s"]).sum(), rel=1e-9)


def test_energy_ledger_is_exact_with_reloads():
    results, req, svc = _tier_run(10.0)
    until = 600.0
    alloc_j = sum(a.energy_now_j() for a in svc.allocations)
    idle_j = sum(a.gpus * GPU.idle_w * (until - a.busy_now_s()) for a in svc.allocations)
    assert req["energy_j"].sum() + idle_j == pytest.approx(alloc_j, rel=1e-12)
    assert results.energy_j["gpu"] == pytest.approx(alloc_j, rel=1e-12)


def test_bad_tier_inputs_are_refused():
    import dcsim

    s = "workload.services.chat"
    with pytest.raises(ConfigError, match=f"{s}.kv_cpu_tier_gb.*prefix_cache_fraction"):
        dcsim.run([f"{s}.kv_cpu_tier_gb=100"])
    with pytest.raises(ConfigError, match=f"{s}.kv_cpu_tier_gb"):
        dcsim.run([f"{s}.kv_cpu_tier_gb=-1", f"{s}.prefix_cache_fraction=0.3"])
    with pytest.raises(ConfigError, match=f"{s}.kv_cpu_tier_gb.*B200.*host_link_gb_s"):
        dcsim.run(["facility.node.gpu=B200", f"{s}.kv_cpu_tier_gb=100", f"{s}.prefix_cache_fraction=0.3"])
    with pytest.raises(GpuFileError, match="host_link_gb_s"):
        spec_from_mapping({**_h100_mapping(), "host_link_gb_s": {"value": -5, "source": "x"}}, "bad.yaml")


def _h100_mapping() -> dict:
    import yaml

    from dcsim.data import resolve_data_path

    with open(resolve_data_path("dcsim:gpus/h100-sxm.yaml")) as f:
        return yaml.safe_load(f)
