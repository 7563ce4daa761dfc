"""docs/extending.md works as written: a GPU, a model and a cooling technology added as
files in a directory named by DCSIM_CATALOGUE_PATH, none in the package, run together,
and listed by ``dcsim --help``.

The three files are copied out of the page itself (each ```yaml block after a
``<!-- catalogue file: KIND/NAME.yaml -->`` marker), so the documented entries cannot rot.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
import yaml

from dcsim.api import compose_config
from dcsim.cli import help_text
from dcsim.config.build import build
from dcsim.facility.cooling import TECHNOLOGIES, CoolingFileError
from dcsim.hardware.catalogue import CATALOGUE_PATH_ENV, CataloguePathError
from dcsim.hardware.gpus import GPUS, GpuFileError
from dcsim.hardware.models import MODELS
from dcsim.hardware.profiles import ProfileError, load_profile, profile_gpus

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
MARKER = re.compile(r"<!-- catalogue file: (\S+) -->\n```(?:yaml|python)\n(.*?)```", re.S)
# A short inference-only run on the documented GPU, model and cooling technology.
RUN = ["workload=inference_only", "duration_s=300", "workload.services.chat.tp=1", "workload.services.chat.replicas=4"]
USER = ["facility.node.gpu=H100-PCIe", "workload.services.chat.model=Qwen2.5-7B",
        "facility.cooling.technology=cold_plate_w45"]


def documented_files() -> dict[str, str]:
    """KIND/NAME.yaml -> the YAML text docs/extending.md gives for it."""
    return dict(MARKER.findall(DOC.read_text(encoding="utf-8")))


def write_catalogue(root: Path, files: dict[str, str]) -> Path:
    for rel, body in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(body, encoding="utf-8")
    return root


@pytest.fixture
def catalogue(tmp_path, monkeypatch) -> Path:
    """The documented entries in a temporary directory, named by DCSIM_CATALOGUE_PATH."""
    root = write_catalogue(tmp_path / "my-catalogue", documented_files())
    monkeypatch.setenv(CATALOGUE_PATH_ENV, str(root))
    return root


def run(overrides: list[str]) -> tuple[object, dict]:
    scenario = build(compose_config(overrides))
    return scenario, scenario.run().summary()


def test_the_page_documents_one_file_of_each_kind():
    assert sorted(documented_files()) == ["cooling/cold_plate_w45.yaml", "gpus/h100-pcie.yaml",
                                          "kpis/tokens_per_kwh.py", "models/qwen2.5-7b.yaml"]


def test_user_entries_join_the_catalogues_only_while_named(catalogue, monkeypatch):
    assert "H100-PCIe" in GPUS and "Qwen2.5-7B" in MODELS and "cold_plate_w45" in TECHNOLOGIES
    assert "H100-PCIe" not in GPUS.packaged and "H100-SXM" in GPUS  # shipped entries stay
    assert GPUS["H100-PCIe"].tdp_w == 350.0 and GPUS["H100-PCIe"].idle_w == pytest.approx(0.155 * 350.0)
    assert TECHNOLOGIES["cold_plate_w45"].supply_temp_c == 45.0
    assert "H100-PCIe" in profile_gpus("vllm-0.11") and "H100-PCIe" not in profile_gpus("splitwise-2023")
    monkeypatch.delenv(CATALOGUE_PATH_ENV)
    assert "H100-PCIe" not in GPUS and "Qwen2.5-7B" not in MODELS and "cold_plate_w45" not in TECHNOLOGIES


def test_an_uncalibrated_user_gpu_runs_on_the_reference_fit_and_says_so(catalogue):
    prof, ref = load_profile("H100-PCIe"), load_profile("H100-SXM")
    assert prof.status == "uncalibrated" and prof.perf == ref.perf and "H100-SXM" in prof.basis
    # the reference's static power sits at the same share of idle..TDP on the new GPU
    sxm, pcie = GPUS["H100-SXM"], GPUS["H100-PCIe"]
    share = (ref.power["static_w"] - sxm.idle_w) / (sxm.tdp_w - sxm.idle_w)
    assert prof.power["static_w"] == pytest.approx(pcie.idle_w + share * (pcie.tdp_w - pcie.idle_w), rel=1e-3)


def test_a_user_gpu_with_its_own_fitted_profile_uses_it(catalogue):
    """docs/extending.md: a profile file in <dir>/calibration/<engine>/<gpu>.yaml is the GPU's
    profile; a GPU that claims a measured profile without one is refused, naming the way out."""
    shipped = Path(str(resources.files("dcsim.data").joinpath("calibration", "vllm-0.11", "H100-SXM.yaml")))
    profile = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    profile.update(gpu="H100-PCIe", basis="a fit of our own")
    profile["perf"]["compute_efficiency"] = 0.5
    gpu = documented_files()["gpus/h100-pcie.yaml"].replace("{vllm-0.11: uncalibrated}", "{vllm-0.11: measured}")
    write_catalogue(catalogue, {"gpus/h100-pcie.yaml": gpu})
    with pytest.raises(ProfileError, match=r"no calibration for GPU 'H100-PCIe'.*calibration/vllm-0.11/H100-PCIe.yaml"):
        load_profile("H100-PCIe")
    write_catalogue(catalogue, {"calibration/vllm-0.11/H100-PCIe.yaml": yaml.safe_dump(profile)})
    prof = load_profile("H100-PCIe")
    assert (prof.status, prof.basis, prof.perf.compute_efficiency) == ("measured", "a fit of our own", 0.5)
    assert "H100-PCIe" in profile_gpus("vllm-0.11")


def test_a_scenario_runs_on_the_documented_gpu_model_and_cooling(catalogue):
    scenario, s = run(RUN + USER)
    spec, _ = scenario.services[0]
    assert spec.model.name == "Qwen2.5-7B" and spec.model.layers == 28
    assert s["gpu_model"] == "H100-PCIe" and s["cooling_technology"] == "cold_plate_w45"
    assert s["calibration_status"] == "uncalibrated" and "H100-PCIe" in s["calibration_note"]
    # every GPU draws between its idle power and its 350 W TDP for the whole run
    gpu_s = s["gpus_total"] * 300.0
    assert GPUS["H100-PCIe"].idle_w * gpu_s < s["gpu_energy_j"] <= 350.0 * gpu_s
    assert s["requests_completed"] > 0


def test_the_cooling_file_sets_the_cooling_power_as_its_numbers_say(catalogue, tmp_path, monkeypatch):
    """A variant of the documented technology with 0.05 W/W more CDU pumping in its file and
    twice the capex: the plant on its own (no rack) pumps 0.05 x liquid share more; in a run
    the racks' CDU pumps come from the pump physics (docs/cooling.md, "Air and liquid movers"),
    so the file's linear share does not move the energy, and capex doubles."""
    from dcsim.facility.cooling import CoolingPlant

    doc = yaml.safe_load(documented_files()["cooling/cold_plate_w45.yaml"])
    variant = dict(doc, name="cold_plate_w45_pumped",
                   rack_side_share={"value": doc["rack_side_share"]["value"] + 0.05, "source": "test variant"},
                   capex_usd_per_w={"value": 2 * doc["capex_usd_per_w"]["value"], "source": "test variant"})
    more = write_catalogue(tmp_path / "more", {"cooling/variant.yaml": yaml.safe_dump(variant)})
    monkeypatch.setenv(CATALOGUE_PATH_ENV, f"{catalogue}:{more}")
    _, base = run(RUN + USER)
    _, pumped = run(RUN + USER[:2] + ["facility.cooling.technology=cold_plate_w45_pumped"])
    plain, more_pumps = (CoolingPlant(TECHNOLOGIES[n]).coefficients(30.0, 22.0)
                         for n in ("cold_plate_w45", "cold_plate_w45_pumped"))
    assert more_pumps.rack_side - plain.rack_side == pytest.approx(0.05 * doc["liquid_fraction"]["value"], rel=1e-12)
    assert pumped["it_energy_j"] == base["it_energy_j"]  # the same work on the same GPUs
    assert pumped["cooling_energy_j"] == base["cooling_energy_j"]
    assert pumped["capex_cooling_usd"] == pytest.approx(2 * base["capex_cooling_usd"], rel=1e-12)


def test_warm_water_cooling_costs_less_than_the_shipped_direct_liquid(catalogue):
    """45 C water runs the liquid share chiller-free where 32 C water needs the chiller (15 July, Leesburg)."""
    _, warm = run(RUN + USER)
    _, shipped = run(RUN + USER[:2] + ["facility.cooling.technology=direct_liquid"])
    assert warm["chiller_energy_j"] < shipped["chiller_energy_j"]
    assert warm["pue"] < shipped["pue"]


def test_a_user_entry_may_not_reuse_a_shipped_name(tmp_path, monkeypatch):
    body = documented_files()["gpus/h100-pcie.yaml"].replace("name: H100-PCIe", "name: H100-SXM")
    root = write_catalogue(tmp_path / "c", {"gpus/mine.yaml": body})
    monkeypatch.setenv(CATALOGUE_PATH_ENV, str(root))
    with pytest.raises(GpuFileError, match=r"mine\.yaml: field 'name': 'H100-SXM' is already defined in .*h100-sxm"):
        len(GPUS)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.pop("tau_s"), r"field 'tau_s': is missing"),
    (lambda d: d["tau_s"].pop("source"), r"field 'tau_s.source': is missing: every figure names its provenance"),
    (lambda d: d.update(liquid_fraction={"value": 1.5, "source": "x"}),
     r"field 'liquid_fraction.value': must be a share in \[0, 1\], got 1.5"),
    (lambda d: d.update(colour="blue"), r"field 'colour': is not a cooling field; allowed: \["),
])
def test_a_broken_cooling_file_names_the_file_and_the_field(tmp_path, monkeypatch, edit, message):
    data = yaml.safe_load(documented_files()["cooling/cold_plate_w45.yaml"])
    edit(data)
    root = write_catalogue(tmp_path / "c", {"cooling/broken.yaml": yaml.safe_dump(data)})
    monkeypatch.setenv(CATALOGUE_PATH_ENV, str(root))
    with pytest.raises(CoolingFileError, match=r"^cooling file .*broken\.yaml: " + message):
        "cold_plate_w45" in TECHNOLOGIES  # noqa: B015 - the lookup loads the catalogue


def test_a_catalogue_path_that_is_not_a_directory_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(CATALOGUE_PATH_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(CataloguePathError, match=r"DCSIM_CATALOGUE_PATH=.*nowhere.* is not a directory"):
        len(MODELS)


def test_help_lists_the_catalogue_with_the_users_entries_and_hides_the_schema_nodes(catalogue):
    """`dcsim --help` names every GPU, model and cooling technology a run may pick, the
    user's among them, and no internal schema node (base_facility, ...) as a config option."""
    text = help_text(["--help"])
    section = text.split("== Catalogue")[1].split("== Config")[0]
    flat = " ".join(section.split())
    for name in [*GPUS, *MODELS, *TECHNOLOGIES]:
        assert re.search(rf"(: |, ){re.escape(name)}(,| |$)", flat), name
    assert "H100-PCIe" in flat and "Qwen2.5-7B" in flat and "cold_plate_w45" in flat
    groups = text.split("== Config groups")[1].split("== Catalogue")[0]
    assert re.search(r"^workload:.*\binference_only\b", groups, re.M)
    assert "base_" not in groups
    assert "hydra:" not in text.split("== Config (")[1]  # Hydra's own node is not the user's config


def test_a_user_kpi_is_computed_into_the_summary_and_printed(catalogue):
    """The documented KPI file: its value is its formula over the run's own totals, and the
    CLI table prints it with its label and format."""
    from dcsim.cli import format_summary

    _, s = run(RUN + USER)
    assert s["output_tokens"] > 0
    assert s["output_tokens_per_facility_kwh"] == pytest.approx(s["output_tokens"] / (s["facility_energy_j"] / 3.6e6))
    line = [x for x in format_summary(s).splitlines() if "output tokens per facility kWh" in x]
    assert len(line) == 1 and f"{s['output_tokens_per_facility_kwh']:,.0f} 1/kWh" in line[0]


@pytest.mark.parametrize("body,message", [
    ("raise RuntimeError('boom')\n", "fails to import: RuntimeError: boom"),
    ("X = 1\n", "must be a dcsim.metrics.registry.Kpi with a compute function"),
    ("from dcsim.metrics.registry import Kpi\nKPI = Kpi('pue', '-', 'p', '.3f', 'd', 'user', compute=len)\n",
     "'pue' is a shipped KPI"),
])
def test_a_broken_kpi_file_stops_the_run_before_it_starts(tmp_path, monkeypatch, body, message):
    (tmp_path / "kpis").mkdir()
    (tmp_path / "kpis" / "mine.py").write_text(body, encoding="utf-8")
    monkeypatch.setenv(CATALOGUE_PATH_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="mine.py") as err:
        build(compose_config(RUN))
    assert message in str(err.value) and "\n" not in str(err.value)
