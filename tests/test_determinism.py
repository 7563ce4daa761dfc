"""Same config and seed, same results, bit for bit; named streams keep components apart."""

from __future__ import annotations

import pandas as pd
from conftest import same_summary

import dcsim

SHORT = ["duration_s=600"]


def _tables(results):
    return results.frames()


def test_same_seed_same_tables_bit_for_bit():
    """Two runs of one config and seed give identical tables and summaries."""
    a, b = dcsim.run(SHORT), dcsim.run(SHORT)
    ta, tb = _tables(a), _tables(b)
    for name in ta:
        pd.testing.assert_frame_equal(ta[name], tb[name], check_exact=True)
    assert same_summary(a.summary(), b.summary())


def test_different_seed_different_tables():
    """Another seed draws other arrivals and lengths."""
    a = _tables(dcsim.run(SHORT + ["seed=0"]))["requests"]
    b = _tables(dcsim.run(SHORT + ["seed=1"]))["requests"]
    assert not a["t_arrival_s"].equals(b["t_arrival_s"])
    assert not a["prompt_tokens"].equals(b["prompt_tokens"])


def test_streams_are_independent_of_other_components():
    """Adding training jobs does not shift the chat service's arrivals or lengths."""
    mixed = _tables(dcsim.run(SHORT))["requests"].sort_values("request_id")
    alone = _tables(dcsim.run(SHORT + ["workload=inference_only", "workload.services.chat.replicas=4",
                                       "workload.services.chat.arrival_rate_per_s=5.5"]))["requests"]
    alone = alone.sort_values("request_id")
    cols = ["request_id", "t_arrival_s", "prompt_tokens", "output_tokens"]
    pd.testing.assert_frame_equal(mixed[cols].reset_index(drop=True), alone[cols].reset_index(drop=True),
                                  check_exact=True)


def test_same_events_in_processes_with_different_string_hashing(tmp_path):
    """Two processes hash strings differently (PYTHONHASHSEED): a UPS run out and its
    overloads, several stages at one instant, still give the same event log, row for row."""
    import os
    import subprocess
    import sys

    script = ("import sys, dcsim; dcsim.run(['duration_s=900', 'output.write=false', "
              "'+facility.faults=[{kind: utility, start_s: 300, duration_s: 500}]', "
              "'facility.generator_start_s=400', 'facility.ups_ride_through_s=60'])"
              ".frames()['events'].to_csv(sys.argv[1], index=False)")
    logs = []
    for seed in ("1", "2"):
        out = tmp_path / f"events_{seed}.csv"
        subprocess.run([sys.executable, "-c", script, str(out)], check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed})
        logs.append(out.read_text())
    assert logs[0].count("overload") > 2
    assert logs[0] == logs[1]
