"""QC from weights: content per unit from the lot, 2.9.5 and 2.9.40, pass or fail."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from printmed.errors import InputError
from printmed.records.qc import assess, drug_fraction, parse_weights
from tests.records.builders import DOSE_MG, FORMULATION, good_weights


def test_content_is_mass_times_loading_times_assay() -> None:
    qc = assess([125.0, 130.0], dose_mg=12.5, formulation=FORMULATION, units=10)
    assert qc["drug_fraction"] == pytest.approx(0.10)
    assert qc["contents_mg"] == pytest.approx([12.5, 13.0])
    assert qc["contents_percent"] == pytest.approx([100.0, 104.0])
    assert qc["target_unit_mass_mg"] == pytest.approx(125.0)


def test_uniform_batch_of_ten_passes_with_k_2_4() -> None:
    qc = assess(good_weights(10), dose_mg=DOSE_MG, formulation=FORMULATION, units=10)
    assert qc["passed"] is True
    assert qc["acceptance_value"]["k"] == 2.4
    # contents 98.72, 99.36, 100, 100.64, 101.28 (twice): mean 100, s = 0.9541 → AV = 2.29
    assert qc["acceptance_value"]["value"] == pytest.approx(2.4 * 0.95406, abs=1e-3)


def test_batch_with_a_unit_twice_outside_the_mass_limit_fails() -> None:
    weights = good_weights(10)
    weights[3] = 125.0 * 1.2  # 20 % heavy: twice the 7.5 % limit at 80–250 mg
    qc = assess(weights, dose_mg=DOSE_MG, formulation=FORMULATION, units=10)
    assert qc["mass_uniformity"]["passed"] is False
    assert qc["passed"] is False


def test_thirty_units_use_k_2_0() -> None:
    qc = assess(good_weights(30), dose_mg=DOSE_MG, formulation=FORMULATION, units=30)
    assert qc["acceptance_value"]["k"] == 2.0


def test_fewer_than_ten_units_are_marked_reduced_sample() -> None:
    qc = assess(good_weights(7), dose_mg=DOSE_MG, formulation=FORMULATION, units=7)
    assert qc["reduced_sample"] is True


def test_more_weights_than_units_are_refused() -> None:
    with pytest.raises(InputError, match="weights: 11 units weighed; the batch has 10"):
        assess(good_weights(11), dose_mg=DOSE_MG, formulation=FORMULATION, units=10)


def test_a_lot_without_assay_cannot_estimate_content() -> None:
    with pytest.raises(InputError, match="assay_percent"):
        drug_fraction({**FORMULATION, "assay_percent": None})


def test_weights_text_names_the_bad_entry() -> None:
    assert parse_weights("101.2, 99.8;100") == [101.2, 99.8, 100.0]
    with pytest.raises(InputError, match=r"weights\[1\]: 'ten' is not a number"):
        parse_weights("101.2,ten")


@given(
    st.lists(st.floats(min_value=20, max_value=900), min_size=2, max_size=30),
    st.floats(min_value=0.5, max_value=100),
)
def test_contents_are_proportional_to_masses(weights: list[float], dose_mg: float) -> None:
    qc = assess(weights, dose_mg=dose_mg, formulation=FORMULATION, units=30)
    for weight, content, percent in zip(
        weights, qc["contents_mg"], qc["contents_percent"], strict=True
    ):
        assert content == pytest.approx(weight * 0.10)
        assert percent == pytest.approx(content / dose_mg * 100)
