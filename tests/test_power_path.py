"""The power delivery chain: cited loss curves, redundancy, sizing and oversubscription."""

from __future__ import annotations

import pytest

from dcsim.facility.power_path import (
    DEFAULT_STAGES,
    PDU_COEFFICIENTS,
    PSU_COEFFICIENTS,
    TRANSFORMER_COEFFICIENTS,
    UPS_COEFFICIENTS,
    ConversionStage,
    PowerPath,
    StageSpec,
    fit_loss_coefficients,
    stage_efficiency,
    usable_units,
)


def test_default_curves_reproduce_their_published_points():
    """Each default curve passes through the efficiency its source states."""
    # 10 CFR 431.196(b)(2): liquid-immersed 2500 kVA, 99.53 % at 50 % load.
    assert stage_efficiency(TRANSFORMER_COEFFICIENTS, 0.50) == pytest.approx(0.9953, abs=1e-6)
    # 10 CFR 431.196(a)(2): low-voltage dry-type 300 kVA, 99.02 % at 35 % load.
    assert stage_efficiency(PDU_COEFFICIENTS, 0.35) == pytest.approx(0.9902, abs=1e-6)
    # 80 PLUS Titanium, 230 V internal redundant: 90 / 94 / 96 % at 10 / 20 / 50 %, at least 91 % at 100 %.
    for x, eta in ((0.1, 0.90), (0.2, 0.94), (0.5, 0.96)):
        assert stage_efficiency(PSU_COEFFICIENTS, x) == pytest.approx(eta, abs=1e-9)
    assert 0.91 <= stage_efficiency(PSU_COEFFICIENTS, 1.0) < 0.96
    # Every default coefficient is a loss, as the config builder requires.
    for coefs in (TRANSFORMER_COEFFICIENTS, UPS_COEFFICIENTS, PDU_COEFFICIENTS, PSU_COEFFICIENTS):
        assert all(0 <= v < 0.5 for v in coefs)
    # Double-conversion UPS (LBNL/EPRI 2005 measurements): 93-96 % from 25 % to full load.
    effs = [stage_efficiency(UPS_COEFFICIENTS, x) for x in (0.25, 0.5, 1.0)]
    assert effs == sorted(effs) and 0.93 < effs[0] and effs[-1] < 0.965


def test_transformer_peaks_at_its_rating_load():
    """Core loss = copper loss at the regulated load, so efficiency peaks there."""
    peak = stage_efficiency(TRANSFORMER_COEFFICIENTS, 0.5)
    assert all(stage_efficiency(TRANSFORMER_COEFFICIENTS, x) < peak for x in (0.25, 0.4, 0.6, 1.0))


def test_fit_is_exact_for_three_points_and_refuses_negative_losses():
    a, b, c = fit_loss_coefficients(((0.25, 0.95), (0.5, 0.97), (1.0, 0.965)))
    for x, eta in ((0.25, 0.95), (0.5, 0.97), (1.0, 0.965)):
        assert stage_efficiency((a, b, c), x) == pytest.approx(eta, abs=1e-12)
    with pytest.raises(ValueError):
        fit_loss_coefficients(((0.1, 0.5), (0.5, 0.999999), (1.0, 0.5)))


@pytest.mark.parametrize("redundancy,units,usable", [("N", 3, 3), ("N+1", 5, 4), ("N+2", 6, 4), ("2N", 4, 2)])
def test_usable_units(redundancy, units, usable):
    assert usable_units(redundancy, units) == usable


@pytest.mark.parametrize("redundancy,units", [("2N", 3), ("N+1", 1), ("3N", 3), ("N", 0)])
def test_bad_redundancy_is_refused(redundancy, units):
    with pytest.raises(ValueError):
        usable_units(redundancy, units)


def test_a_2n_ups_runs_each_unit_at_most_at_half_load_and_loses_more():
    """2N: usable capacity is one side; each unit carries half the load, so a lighter point on its curve."""
    ups_n = ConversionStage("ups", 1e6, *UPS_COEFFICIENTS)
    ups_2n = ConversionStage("ups", 1e6, *UPS_COEFFICIENTS, units=2, redundancy="2N")
    assert ups_2n.usable_w == ups_n.usable_w == 1e6
    assert ups_2n.unit_load_fraction(1e6) == pytest.approx(0.5)
    # Same output, two units each at 50 %: the loss is twice one unit's loss at 50 %.
    assert ups_2n.loss_w(1e6) == pytest.approx(2 * ups_n.loss_w(0.5e6))
    assert ups_2n.efficiency(1e6) == pytest.approx(stage_efficiency(UPS_COEFFICIENTS, 0.5))
    assert ups_2n.efficiency(1e6) < ups_n.efficiency(1e6)  # the UPS curve rises with load


def test_n_plus_1_shares_load_over_all_units():
    ups = ConversionStage("ups", 250e3, *UPS_COEFFICIENTS, units=5, redundancy="N+1")
    assert ups.usable_w == pytest.approx(1e6)
    assert ups.installed_w == pytest.approx(1.25e6)
    assert ups.unit_load_fraction(1e6) == pytest.approx(0.8)


def test_single_unit_stage_matches_the_three_term_formula():
    """units=1, "N" is the original stage (kept for the controller and config builder)."""
    s = ConversionStage("pdu", 2e6, 0.001, 0.002, 0.003)
    x = 0.6
    assert s.loss_w(x * 2e6) == pytest.approx(2e6 * (0.001 + 0.002 * x + 0.003 * x * x))


def test_build_sizes_each_stage_to_carry_the_it_capacity_and_the_losses_below():
    path = PowerPath.build(10e6, DEFAULT_STAGES)
    assert [s.name for s in path.stages] == ["transformer", "ups", "pdu", "psu"]
    assert path.usable_capacity_w() == pytest.approx(10e6, rel=1e-9)
    assert path.overloaded(10e6) == []
    assert path.overloaded(10.01e6) == ["psu", "pdu", "ups", "transformer"]
    # The UPS output at full IT load is the IT load plus the PDU and PSU losses.
    losses = path.loss_by_stage_w(10e6)
    ups = path.stages[1]
    assert ups.usable_w == pytest.approx(10e6 + losses["pdu"] + losses["psu"])
    # 2N stages run at half load at full capacity, N+1 (4 of 5) at 80 %.
    loads = path.load_fraction_by_stage(10e6)
    assert loads == pytest.approx({"transformer": 0.5, "ups": 0.8, "pdu": 0.5, "psu": 0.5})


def test_losses_chain_and_sum():
    path = PowerPath.build(10e6, DEFAULT_STAGES)
    out = 6e6
    assert sum(path.loss_by_stage_w(out).values()) == pytest.approx(path.loss_w(out))
    assert path.input_w(out) == pytest.approx(out + path.loss_w(out))
    assert 0.85 < path.efficiency(out) < 0.95


def test_fixed_unit_ratings_set_capacity_and_oversubscription():
    """The tightest stage sets usable capacity; nameplate over that is the oversubscription ratio."""
    specs = [
        StageSpec("transformer", *TRANSFORMER_COEFFICIENTS, redundancy="2N", units=2, unit_rating_w=12e6),
        StageSpec("ups", *UPS_COEFFICIENTS, redundancy="N+1", units=5, unit_rating_w=2e6),  # 8 MW usable
        StageSpec("pdu", *PDU_COEFFICIENTS, redundancy="2N", units=2, unit_rating_w=12e6),
    ]
    path = PowerPath.build(10e6, specs)
    cap = path.usable_capacity_w()
    assert path.overloaded(cap) == [] and path.overloaded(cap * 1.001) == ["ups"]
    assert cap == pytest.approx(8e6 - path.stages[2].loss_w(cap), rel=1e-9)
    assert path.oversubscription_ratio(10e6) == pytest.approx(10e6 / cap)
    assert path.max_output_w() == cap  # the controller's name for it


def test_redundancy_costs_energy_at_the_same_load():
    """Same IT capacity and load: 2N everywhere loses more than N (more idle units, lighter load)."""
    n = PowerPath.build(1e6, [StageSpec(s.name, s.no_load, s.proportional, s.square) for s in DEFAULT_STAGES[:3]])
    two_n = PowerPath.build(1e6, [StageSpec(s.name, s.no_load, s.proportional, s.square, "2N", 2)
                                  for s in DEFAULT_STAGES[:3]])
    assert two_n.loss_w(0.3e6) > n.loss_w(0.3e6)


def test_output_w_inverts_input_w():
    """A budget at the utility meter maps to the IT power whose input is that budget."""
    path = PowerPath.build(10e6, DEFAULT_STAGES)
    for it_w in (0.5e6, 4e6, 10e6):
        assert path.output_w(path.input_w(it_w)) == pytest.approx(it_w, rel=1e-9)
    assert path.output_w(path.input_w(0.0) * 0.5) == 0.0  # below the no-load losses nothing reaches the IT
