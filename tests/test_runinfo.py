"""The run-info record: each part written once by its writer, never read as a default."""

from __future__ import annotations

import numpy as np
import pytest
from test_engine import NoArrivals

import dcsim
from dcsim.core.runinfo import FacilityInfo, RunInfo, RunInfoMissing, ServiceInfo
from dcsim.core.simulation import Simulation
from dcsim.facility.topology import Topology
from dcsim.hardware.device import DeviceModel
from dcsim.hardware.gpus import GPUS
from dcsim.hardware.models import MODELS
from dcsim.hardware.node import NodeSpec
from dcsim.hardware.performance import InferencePerfParams
from dcsim.hardware.power import GpuPowerModel
from dcsim.metrics.recorder import Recorder
from dcsim.policies.routing import RoundRobinRouter
from dcsim.policies.scheduling import FifoScheduler
from dcsim.workloads.cluster import Cluster
from dcsim.workloads.config import ServiceConfig
from dcsim.workloads.inference.fluid import FluidService
from dcsim.workloads.inference.service import InferenceService, ServiceSpec

MODEL, GPU = MODELS["Llama-3.1-8B"], GPUS["H100-SXM"]
DEVICE = DeviceModel(GPU, InferencePerfParams(), GpuPowerModel(GPU))


def _spec(fidelity: str) -> ServiceSpec:
    def lengths(rng, n):
        return np.full(n, 100, dtype=np.int64), np.full(n, 10, dtype=np.int64)

    return ServiceSpec("svc", MODEL, ServiceConfig(model=MODEL.name, replicas=1, tp=1, fidelity=fidelity), NoArrivals(),
                       lengths, 100.0, 10.0, 100.0, 100_000)


def test_a_part_never_written_names_itself_and_its_writer():
    info = RunInfo()
    with pytest.raises(RunInfoMissing, match=r"facility was never written \(it is written by the facility controller"):
        info.facility  # noqa: B018 - the read is the test
    with pytest.raises(RunInfoMissing, match="scenario was never written"):
        info.scenario  # noqa: B018
    with pytest.raises(RunInfoMissing, match="capex_usd was never written"):
        info.capex_usd  # noqa: B018
    svc = info.add_service("chat", ServiceInfo(1.0, None, "request"))
    with pytest.raises(RunInfoMissing, match=r"services\['chat'\].totals was never written"):
        svc.final("chat")


def test_each_part_is_written_once():
    info = RunInfo()
    info.gpus_total = 8
    with pytest.raises(RuntimeError, match="gpus_total is written once"):
        info.gpus_total = 16
    info.facility = FacilityInfo(1e6, 1.2e6, None, 100.0, 180.0, 25.0, 25.0)
    with pytest.raises(RuntimeError, match="facility is written once"):
        info.facility = FacilityInfo(1e6, 1.2e6, None, 100.0, 180.0, 25.0, 25.0)
    info.add_service("chat", ServiceInfo(None, None, "request"))
    with pytest.raises(RuntimeError, match="'chat' is already registered"):
        info.add_service("chat", ServiceInfo(None, None, "fluid"))
    assert info.gpus_total == 8 and list(info.services) == ["chat"]


def test_a_fluid_service_needs_the_scenarios_control_interval():
    """The fluid service steps at the facility's control interval; without a scenario to say
    it, it refuses instead of assuming 60 s."""
    sim = Simulation(0, Recorder)
    cluster = Cluster(sim, Topology(1, 1, NodeSpec(GPU)), FifoScheduler())
    with pytest.raises(RunInfoMissing, match="scenario was never written"):
        FluidService(sim, _spec("fluid"), DEVICE, RoundRobinRouter(), cluster, 0, 60.0)


def test_kpis_of_a_run_without_a_facility_are_refused_not_defaulted():
    """A simulation built by hand (a cluster and a service, no scenario, no facility) has no
    run-level figures: its summary raises naming the missing part rather than reporting
    zeros and NaNs for them; its record tables are still there."""
    sim = Simulation(0, Recorder)
    cluster = Cluster(sim, Topology(1, 1, NodeSpec(GPU)), FifoScheduler())
    InferenceService(sim, _spec("request"), DEVICE, RoundRobinRouter(), cluster, 0, 60.0)
    results = sim.run(60.0)
    assert results.run_info.gpus_total == 8
    totals = results.run_info.services["svc"].final("svc")
    assert (totals.output_tokens, totals.preemptions, totals.gpu_s) == (0, 0, 60.0)  # 1 GPU held 60 s, idle
    with pytest.raises(RunInfoMissing, match="scenario was never written"):
        results.summary()


def test_the_summary_takes_the_services_totals():
    """Run-level inference figures are the services' totals added up; each service's entry
    carries its own (one service here, so they agree exactly)."""
    r = dcsim.run(["workload=inference_only", "duration_s=120", "output.write=false"])
    s, t = r.summary(), r.run_info.services["chat"].final("chat")
    assert s["output_tokens"] == t.output_tokens == s["services"]["chat"]["output_tokens"]
    assert s["inference_gpu_energy_j"] == t.gpu_energy_j == s["services"]["chat"]["gpu_energy_j"]
    assert s["inference_model_flops"] == t.model_flops == 2.0 * MODELS["Llama-3.1-70B"].active_params * (
        t.prompt_tokens + t.output_tokens)
    assert s["preemptions"] == t.preemptions
    assert s["max_inlet_temp_c"] == r.run_info.facility.max_inlet_temp_c
    assert s["gpus_total"] == r.run_info.gpus_total == 128
