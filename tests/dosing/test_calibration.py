"""Calibration of mass against programmed volume: the fit, and its refusals."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosing.calibration import fit_calibration
from dosing.errors import CalibrationRejected


def test_exact_line_is_recovered():
    # mass = 1.2 × V − 0.5 at V = 50, 100, 150, 200
    fit = fit_calibration([50, 100, 150, 200], [59.5, 119.5, 179.5, 239.5])
    assert fit.slope_mg_per_mm3 == pytest.approx(1.2)
    assert fit.intercept_mg == pytest.approx(-0.5)
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.residuals_mg == pytest.approx((0, 0, 0, 0), abs=1e-9)
    assert fit.volume_mm3(119.5) == pytest.approx(100)
    assert fit.factor_for(1.25, 100) == pytest.approx(119.5 / 125)


def test_worked_example_with_noise():
    # V = 1, 2, 3; m = 1, 2, 4: slope = Σ(dx·dy)/Σdx² = (1·1.333 + 1·1.667)/2 = 1.5,
    # intercept = 2.333 − 1.5 × 2 = −0.667; SSres = (1/6)² ×(1+4+1) = 1/6, SStot = 4.667;
    # R² = 1 − 0.1667 / 4.6667 = 0.9643 < 0.99: refused
    with pytest.raises(CalibrationRejected, match=r"^r_squared: 0\.9643 is below 0\.99$"):
        fit_calibration([1, 2, 3], [1, 2, 4])


def test_too_few_points_is_refused():
    with pytest.raises(CalibrationRejected, match=r"^points: 2 is fewer than 3$"):
        fit_calibration([1, 2], [1, 2])


def test_a_negative_mass_is_refused_naming_it():
    with pytest.raises(CalibrationRejected, match=r"^masses_mg\[1\]: -2 is not a positive number$"):
        fit_calibration([1, 2, 3], [1, -2, 3])


@settings(max_examples=50, deadline=None)
@given(
    slope=st.floats(0.3, 3.0),
    intercept=st.floats(-5, 5),
    volumes=st.lists(st.floats(20, 1000), min_size=3, max_size=12, unique=True),
)
def test_a_noise_free_line_is_always_recovered(slope, intercept, volumes):
    masses = [slope * v + intercept for v in volumes]
    if min(masses) <= 0 or max(volumes) - min(volumes) < 1:
        return
    fit = fit_calibration(volumes, masses)
    assert fit.slope_mg_per_mm3 == pytest.approx(slope, rel=1e-6)
    assert fit.r_squared == pytest.approx(1.0, abs=1e-9)
