"""Climate: EPW weather, psychrometrics (wet bulb) and the shipped named climates."""

import gzip

import numpy as np
import pytest

from dcsim.facility.climate import (
    CLIMATES,
    DEFAULT_EPW,
    Climate,
    Weather,
    humidity_ratio,
    humidity_ratio_at_wet_bulb,
    load_epw_text,
    read_epw_dry_bulb_c,
    saturation_pressure_pa,
    wet_bulb_c,
)


def test_saturation_pressure_matches_ashrae_table():
    """Saturation pressure over water at 25 C and over ice at -10 C match ASHRAE Fundamentals
    2017 ch. 1 Table 3 (3.1699 kPa, 0.25987 kPa)."""
    assert saturation_pressure_pa(25.0) == pytest.approx(3169.9, rel=3e-4)
    assert saturation_pressure_pa(-10.0) == pytest.approx(259.87, rel=3e-4)


def test_psychrometric_equation_matches_psychrolib_reference_values():
    """Humidity ratio from (dry, wet bulb, pressure) above and below freezing matches the values
    PsychroLib tests against (30/25 C and -1/-5 C at 95,461 Pa)."""
    assert humidity_ratio_at_wet_bulb(30.0, 25.0, 95461.0) == pytest.approx(0.0192281274241096, rel=3e-4)
    assert humidity_ratio_at_wet_bulb(-1.0, -5.0, 95461.0) == pytest.approx(0.00120399819933844, rel=3e-4)


@pytest.mark.parametrize(
    "dry_c, rh_pct, pressure_pa, expected_c, tol_k",
    [
        (30.0, 50.0, 101325.0, 22.0, 0.1),  # psychrometric chart, sea level
        (40.0, 14.0, 101325.0, 20.0, 0.2),  # ASHRAE Fundamentals 2017 ch. 1 Example 1 (RH given as 14 %)
        (20.0, 50.0, 101325.0, 13.7, 0.1),  # psychrometric chart, sea level
    ],
)
def test_wet_bulb_known_values(dry_c, rh_pct, pressure_pa, expected_c, tol_k):
    """Wet bulb from dry bulb, RH and pressure matches published psychrometric values."""
    assert wet_bulb_c(dry_c, rh_pct, pressure_pa) == pytest.approx(expected_c, abs=tol_k)


def test_wet_bulb_is_at_most_dry_bulb_and_equal_when_saturated():
    """Wet bulb never exceeds dry bulb, equals it at 100 % RH, and rises with humidity."""
    dry = np.linspace(-20.0, 50.0, 71)
    for rh in (0.0, 5.0, 30.0, 70.0, 99.0):
        assert np.all(wet_bulb_c(dry, rh, 101325.0) <= dry)
    np.testing.assert_allclose(wet_bulb_c(dry, 100.0, 101325.0), dry, atol=1e-6)
    assert wet_bulb_c(25.0, 30.0) < wet_bulb_c(25.0, 60.0) < wet_bulb_c(25.0, 90.0)
    # lower pressure (altitude) evaporates more easily: a lower wet bulb at the same RH
    assert wet_bulb_c(35.0, 20.0, 84000.0) < wet_bulb_c(35.0, 20.0, 101325.0)


def test_wet_bulb_humidity_ratio_round_trip():
    """The humidity ratio at the computed wet bulb equals the air's humidity ratio."""
    dry, rh, p = 33.0, 45.0, 97000.0
    wb = wet_bulb_c(dry, rh, p)
    w_air = humidity_ratio(rh / 100 * saturation_pressure_pa(dry), p)
    assert float(humidity_ratio_at_wet_bulb(dry, wb, p)) == pytest.approx(float(w_air), rel=1e-9)


EXPECTED_LOCATIONS = {
    "leesburg_va": ("Leesburg", -5.0, 39.08),
    "phoenix_az": ("Phoenix", -7.0, 33.43),
    "seattle_wa": ("Seattle", -8.0, 47.44),
    "piedmont_it": ("", 0.0, 45.0),  # PVGIS: no place name, UTC time stamps
}


@pytest.mark.parametrize("name", sorted(CLIMATES))
def test_named_climates_load_a_full_year(name):
    """Each shipped climate has 8760 hours of dry bulb, RH, pressure and wet bulb, at the
    place and UTC offset the data README names, with wet bulb <= dry bulb every hour."""
    c = Climate.named(name, 1, 0.0)
    place, utc_offset_h, lat = EXPECTED_LOCATIONS[name]
    text, _ = load_epw_text(name)
    assert float(text.splitlines()[0].split(",")[6]) == pytest.approx(lat, abs=0.01)
    assert place in c.location
    assert c.utc_offset_h == utc_offset_h
    for series in (c.dry_bulb_c, c.rel_humidity_pct, c.pressure_pa, c.dew_point_c, c.wet_bulb_c):
        assert series.shape == (8760,) and np.all(np.isfinite(series))
    assert np.all(c.wet_bulb_c <= c.dry_bulb_c)
    assert np.all((c.rel_humidity_pct >= 0) & (c.rel_humidity_pct <= 100))
    assert np.all((c.pressure_pa > 90_000) & (c.pressure_pa < 105_000))


def test_annual_means_follow_geography():
    """Phoenix is the warmest and driest (largest dry-minus-wet-bulb depression); Seattle the
    coolest; Leesburg and Piedmont in between."""
    c = {n: Climate.named(n, 1, 0.0) for n in CLIMATES}
    mean = {n: float(x.dry_bulb_c.mean()) for n, x in c.items()}
    depression = {n: float((x.dry_bulb_c - x.wet_bulb_c).mean()) for n, x in c.items()}
    assert mean["phoenix_az"] > mean["leesburg_va"] > mean["seattle_wa"]
    assert mean["phoenix_az"] > mean["piedmont_it"] > mean["seattle_wa"]
    assert 22 < mean["phoenix_az"] < 27 and 10 < mean["seattle_wa"] < 13
    assert max(depression, key=depression.get) == "phoenix_az"


def test_weather_interpolates_like_outdoor_temp():
    """Weather at a time is the linear interpolation of the hourly values, its dry bulb equals
    outdoor_temp_c, and it wraps from 31 December to 1 January."""
    c = Climate.named("phoenix_az", 1, 1.0)  # t = 0 is the end of hour 1, i.e. row 0
    w0 = c.weather(0.0)
    assert w0 == Weather(c.dry_bulb_c[0], pytest.approx(c.wet_bulb_c[0]), c.rel_humidity_pct[0])
    mid = c.weather(1800.0)
    assert mid.dry_bulb_c == pytest.approx((c.dry_bulb_c[0] + c.dry_bulb_c[1]) / 2)
    assert mid.wet_bulb_c == pytest.approx((c.wet_bulb_c[0] + c.wet_bulb_c[1]) / 2)
    assert mid.rel_humidity_pct == pytest.approx((c.rel_humidity_pct[0] + c.rel_humidity_pct[1]) / 2)
    assert mid.dry_bulb_c == pytest.approx(c.outdoor_temp_c(1800.0))
    end = c.weather(-1800.0)  # half-way between 31 Dec hour 24 and 1 Jan hour 1
    assert end.dry_bulb_c == pytest.approx((c.dry_bulb_c[-1] + c.dry_bulb_c[0]) / 2)
    assert c.weather(365 * 86400.0) == w0


def test_default_and_path_still_work(tmp_path):
    """from_epw(None) is the embedded Leesburg default; a plain or gzipped path works too,
    and read_epw_dry_bulb_c reads the same values."""
    default = Climate.from_epw(None, 1, 1.0)
    assert default.name == DEFAULT_EPW
    text, _ = load_epw_text(None)
    plain = tmp_path / "x.epw"
    plain.write_text(text, encoding="latin-1")
    zipped = tmp_path / "x.epw.gz"
    zipped.write_bytes(gzip.compress(text.encode("latin-1")))
    for p in (plain, zipped):
        c = Climate.from_epw(str(p), 1, 1.0)
        np.testing.assert_array_equal(c.dry_bulb_c, default.dry_bulb_c)
        np.testing.assert_array_equal(c.wet_bulb_c, default.wet_bulb_c)
    np.testing.assert_array_equal(read_epw_dry_bulb_c(text), default.dry_bulb_c)


def test_missing_epw_values_are_interpolated(tmp_path):
    """An EPW missing-value sentinel (RH 999) is replaced by interpolation between valid hours."""
    text, _ = load_epw_text(None)
    lines = text.splitlines()
    fields = lines[8 + 100].split(",")
    fields[8] = "999"
    lines[8 + 100] = ",".join(fields)
    p = tmp_path / "gap.epw"
    p.write_text("\n".join(lines), encoding="latin-1")
    c = Climate.from_epw(str(p), 1, 0.0)
    ref = Climate.from_epw(None, 1, 0.0)
    assert c.rel_humidity_pct[100] == pytest.approx((ref.rel_humidity_pct[99] + ref.rel_humidity_pct[101]) / 2)


def test_unknown_climate_name_is_refused():
    """A misspelt climate name fails with the list of shipped climates."""
    with pytest.raises(ValueError, match="leesburg_va"):
        Climate.named("leesburg", 1, 0.0)


def test_climate_without_humidity_refuses_weather():
    """A climate built from dry bulb alone still gives outdoor_temp_c but refuses weather()."""
    c = Climate("flat", np.full(8760, 20.0), 0.0)
    assert c.outdoor_temp_c(1234.0) == 20.0
    with pytest.raises(ValueError, match="humidity"):
        c.weather(0.0)
