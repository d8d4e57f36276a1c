"""Ph. Eur. 2.9.5 and 2.9.40 against worked examples computed by hand in each test."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosing.errors import UniformityInputError
from dosing.uniformity import acceptance_value, mass_limit_percent, mass_uniformity


@pytest.mark.parametrize(
    ("mean_mg", "limit"),
    [(50, 10.0), (80, 10.0), (80.1, 7.5), (249.9, 7.5), (250, 5.0), (600, 5.0)],
)
def test_mass_limit_follows_the_average_mass_bands(mean_mg, limit):
    assert mass_limit_percent(mean_mg) == limit


def test_twenty_units_with_two_outside_the_limit_pass():
    # 18 × 100 mg, one 108 and one 92 mg: mean 100 mg, limit 7.5 %; two deviate by 8 %, none by 15 %
    result = mass_uniformity([100.0] * 18 + [108.0, 92.0])
    assert result.mean_mg == pytest.approx(100.0)
    assert result.limit_percent == 7.5
    assert result.outside_limit == 2
    assert result.outside_twice_limit == 0
    assert result.sample_size_ok
    assert result.passed


def test_three_units_outside_the_limit_fail():
    # 17 × 100 and 108, 108, 84: sum 2000 → mean 100; three deviate by more than 7.5 %
    result = mass_uniformity([100.0] * 17 + [108.0, 108.0, 84.0])
    assert result.mean_mg == pytest.approx(100.0)
    assert result.outside_limit == 3
    assert not result.passed


def test_one_unit_outside_twice_the_limit_fails():
    # light tablets (limit 10 %): 19 × 50 mg and one 60.5 mg; mean = 1010.5 / 20 = 50.525 mg
    # the heavy one deviates (60.5 − 50.525) / 50.525 = 19.74 % < 20 %: pass; 61 mg → 20.69 %: fail
    assert mass_uniformity([50.0] * 19 + [60.5]).passed
    failing = mass_uniformity([50.0] * 19 + [61.0])
    assert failing.mean_mg == pytest.approx(50.55)
    assert failing.deviations_percent[-1] == pytest.approx((61 - 50.55) / 50.55 * 100)
    assert failing.outside_twice_limit == 1
    assert not failing.passed


def test_fewer_than_twenty_units_is_flagged():
    result = mass_uniformity([100.0] * 7)
    assert result.units == 7
    assert not result.sample_size_ok


def test_acceptance_value_inside_the_reference_band_is_k_times_s():
    contents = [98, 99, 100, 101, 102, 97, 103, 100, 99, 101]
    # mean 100, deviations² sum = 4+1+0+1+4+9+9+0+1+1 = 30, s = √(30/9) = 1.8257; AV = 2.4 s
    result = acceptance_value(contents)
    assert result.mean_percent == pytest.approx(100.0)
    assert result.sd_percent == pytest.approx(math.sqrt(30 / 9))
    assert result.reference_percent == pytest.approx(100.0)
    assert result.value == pytest.approx(2.4 * math.sqrt(30 / 9))
    assert result.passed


def test_acceptance_value_below_98_5_uses_98_5_as_reference():
    contents = [90.0, 92.0] * 5
    # mean 91, s = √(10 × 1 / 9) = 1.0541; AV = |98.5 − 91| + 2.4 × 1.0541 = 7.5 + 2.5298 = 10.0298
    result = acceptance_value(contents)
    assert result.reference_percent == 98.5
    assert result.value == pytest.approx(7.5 + 2.4 * math.sqrt(10 / 9))
    assert result.passed


def test_acceptance_value_above_l1_fails():
    contents = [80.0, 90.0] * 5
    # mean 85, s = √(10 × 25 / 9) = 5.2705; AV = 13.5 + 12.649 = 26.149 > 15
    result = acceptance_value(contents)
    assert result.value == pytest.approx(13.5 + 2.4 * math.sqrt(250 / 9))
    assert not result.passed


def test_stage_two_uses_k_2_and_refuses_a_unit_outside_l2():
    # 29 × 100 and one 74.0: M = X̄ ∈ band? mean = (2900 + 74)/30 = 99.133 → M = 99.133,
    # 0.75 M = 74.35 > 74.0, so one unit lies outside L2 even though AV is small
    contents = [100.0] * 29 + [74.0]
    result = acceptance_value(contents)
    assert result.k == 2.0
    assert result.stage == 2
    assert result.outside_l2 == 1
    sd = math.sqrt((29 * (100 - 2974 / 30) ** 2 + (74 - 2974 / 30) ** 2) / 29)
    assert result.value == pytest.approx(2.0 * sd)
    assert result.value < 15
    assert not result.passed


def test_other_unit_counts_need_an_explicit_k():
    with pytest.raises(UniformityInputError, match=r"^units: 7 has no k"):
        acceptance_value([100.0] * 7)
    assert acceptance_value([100.0] * 7, k=2.4).value == 0.0


@pytest.mark.parametrize("bad", [[], [100.0, -1.0], [100.0, float("nan")]])
def test_non_positive_or_missing_masses_are_refused(bad):
    with pytest.raises(UniformityInputError):
        mass_uniformity(bad)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(1.0, 1000.0), min_size=1, max_size=40), st.floats(0.5, 2.0))
def test_mass_uniformity_is_unchanged_by_scaling_all_masses_within_a_band(masses, factor):
    """Deviations are relative: scaling every unit scales nothing but the mean."""
    first, second = mass_uniformity(masses), mass_uniformity([m * factor for m in masses])
    assert second.mean_mg == pytest.approx(first.mean_mg * factor)
    assert second.deviations_percent == pytest.approx(first.deviations_percent, abs=1e-6)
