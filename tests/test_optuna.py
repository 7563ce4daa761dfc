"""Design-space search (docs/sweeps.md): what a run returns to a sampling sweeper, and an
Optuna study that finds the best point of an exhaustive grid over the same small space.

The study needs dcsim's optuna extra (pip install -e '.[optuna]'); without it the study is
skipped, the return-value tests still run.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from dcsim.analysis import load_sweep
from dcsim.cli import check_optimize, objective_values
from dcsim.config.schema import DcsimConfig
from dcsim.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def _cfg(**optimize):
    cfg = OmegaConf.structured(DcsimConfig)
    cfg.optimize = OmegaConf.merge(cfg.optimize, optimize)
    return cfg


SUMMARY = {"energy_per_output_token_facility_j": 9.5, "ttft_p99_s": 1.5, "output_tokens_per_s_per_facility_mw": 2e5}


def test_a_run_returns_its_objectives_and_none_without():
    assert objective_values(_cfg(), SUMMARY) is None
    assert objective_values(_cfg(objectives=["energy_per_output_token_facility_j"]), SUMMARY) == 9.5
    two = _cfg(objectives=["energy_per_output_token_facility_j", "output_tokens_per_s_per_facility_mw"],
               directions=["minimize", "maximize"])
    assert objective_values(two, SUMMARY) == [9.5, 2e5]


def test_a_broken_constraint_a_refused_run_or_a_missing_kpi_return_the_penalty():
    two = dict(objectives=["energy_per_output_token_facility_j", "output_tokens_per_s_per_facility_mw"],
               directions=["minimize", "maximize"], penalty=1e9)
    assert objective_values(_cfg(**two, constraints=["ttft_p99_s<2"]), SUMMARY) == [9.5, 2e5]
    assert objective_values(_cfg(**two, constraints=["ttft_p99_s<=1"]), SUMMARY) == [1e9, -1e9]
    assert objective_values(_cfg(**two), None) == [1e9, -1e9]  # refused or failed
    assert objective_values(_cfg(objectives=["ttft_p50_s"], penalty=1e9), SUMMARY) == 1e9  # not in the summary


@pytest.mark.parametrize(("optimize", "message"), [
    ({"objectives": ["energy_per_token"]}, "optimize.objectives='energy_per_token' is not allowed: a summary KPI"),
    ({"objectives": ["ttft_p99_s"], "directions": ["down"]}, "optimize.directions=.*minimize or maximize for each"),
    ({"constraints": ["ttft_p99_s < two"]}, "optimize.constraints='ttft_p99_s < two' is not allowed: KPI<number"),
])
def test_bad_optimize_keys_are_one_line_errors(optimize, message):
    with pytest.raises(ConfigError, match=message):
        check_optimize(_cfg(**optimize))


# 2 x 3 x 2 points of serving knobs (the 70B model needs TP >= 4 on H100), one minute each
SPACE = {"workload.services.chat.max_num_seqs": [8, 64], "workload.services.chat.replicas": [2, 4, 8],
         "workload.services.chat.tp": [4, 8]}
COMMON = ["duration_s=60", "workload=inference_only", "output.report=false", "output.print_summary=false",
          "optimize.objectives=[energy_per_output_token_facility_j]", "optimize.constraints=['ttft_p99_s<2']"]


def _dcsim(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "dcsim", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_optuna_study_finds_a_point_as_good_as_the_grids_best(tmp_path):
    pytest.importorskip("optuna", reason="optuna is not installed: pip install -e '.[optuna]'")
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="hydra-optuna-sweeper is not installed: "
                        "pip install -e '.[optuna]'")
    grid = tmp_path / "grid"
    lists = [f"{k}={','.join(map(str, v))}" for k, v in SPACE.items()]
    proc = _dcsim(["-m", *COMMON, *lists, f"hydra.sweep.dir={grid}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    g = load_sweep(grid)
    assert len(g) == 12 and (g["status"] == "ok").all()
    feasible = g[g["ttft_p99_s"] < 2]
    best_grid = float(feasible["energy_per_output_token_facility_j"].min())

    study = tmp_path / "study"
    choices = [f"{k}=choice({','.join(map(str, v))})" for k, v in SPACE.items()]
    proc = _dcsim(["-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=40", "hydra.sweeper.n_jobs=2",
                   "hydra.sweeper.sampler.seed=1", "hydra.sweeper.sampler.multivariate=true",
                   *COMMON, *choices, f"hydra.sweep.dir={study}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = yaml.safe_load((study / "optimization_results.yaml").read_text())
    assert result["best_value"] <= best_grid  # the same config and seed: the same run, exactly
    # the study's runs are in the same tidy table as any sweep's
    s = load_sweep(study)
    assert len(s) == 40 and (study / "sweep_summary.csv").is_file()
    assert float(s["energy_per_output_token_facility_j"][s["ttft_p99_s"] < 2].min()) == result["best_value"]
