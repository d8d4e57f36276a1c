"""The dose → tablet solver: volume exact, heights whole layers, limits kept, mesh watertight."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dosing.calculate import calculate
from dosing.design import REFERENCE_SA_V_PER_MM, design_tablet
from dosing.errors import DosingError, ShapeCannotHoldDose
from dosing.prescription import parse_prescription
from dosing.shapes import SHAPES
from tests.dosing.conftest import TODAY, lot, rx_data

LAYERS_MM = [0.1, 0.2, 0.4]


def design_for(layer_mm=0.2, lot_changes=None, chamfer_mm=0.0, sa_v=None, **changes):
    formulation = lot(**(lot_changes or {}))
    dose = calculate(parse_prescription(rx_data(**changes)), formulation, on=TODAY)
    return design_tablet(
        dose, formulation, dose_shape(changes), layer_mm, chamfer_mm=chamfer_mm, sa_v_per_mm=sa_v
    )


def dose_shape(changes):
    return changes.get("shape", "round")


def assert_holds_dose(design, dose_mg):
    content = design.drug_mg_per_mm3
    assert design.mesh.is_watertight
    assert design.mesh.is_volume
    assert abs(design.mesh.volume * content * design.units_per_dose - dose_mg) <= 1e-3 * dose_mg
    assert abs(design.mesh_volume_mm3 - design.volume_mm3) <= 1e-3 * design.volume_mm3
    layers = design.height_mm / design.layer_height_mm
    assert layers == pytest.approx(round(layers), abs=1e-9)
    assert design.mesh.bounds[1][2] - design.mesh.bounds[0][2] == pytest.approx(design.height_mm)
    shape = SHAPES[design.shape]
    size = design.dimensions_mm[shape.size_label]
    assert shape.size_range_mm[0] - 1e-6 <= size <= shape.size_range_mm[1] + 1e-6
    assert shape.height_range_mm[0] - 1e-9 <= design.height_mm <= shape.height_range_mm[1] + 1e-9


def test_child_propranolol_round_tablet_dimensions():
    design = design_for()
    # 12.5 mg / (1.25 mg/mm³ × 10 % × 100 %) = 100 mm³; aspect 0.4 gives D ≈ 6.8, H = 14 layers
    assert design.volume_mm3 == pytest.approx(100.0)
    assert design.height_mm == pytest.approx(2.8)
    assert design.dimensions_mm["diameter_mm"] == pytest.approx(
        math.sqrt(100 / 2.8 * 4 / math.pi), rel=2e-3
    )
    assert_holds_dose(design, 12.5)


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("layer_mm", LAYERS_MM)
def test_every_shape_holds_the_dose_on_whole_layers(shape, layer_mm):
    design = design_for(layer_mm=layer_mm, shape=shape)
    assert design.shape == shape
    assert_holds_dose(design, 12.5)


def test_minitablets_split_a_dose_they_cannot_hold_alone():
    design = design_for(shape="minitablet")
    # 100 mm³ does not fit one 4 × 4 mm mini-tablet (50.3 mm³ at most): two of 50 mm³
    assert design.units_per_dose == 2
    assert design.units_total == 2 * 28
    assert design.dose_mg == pytest.approx(12.5 / 2)
    assert design.volume_mm3 == pytest.approx(50.0)
    assert design.dimensions_mm["diameter_mm"] <= 4.0


def test_a_dose_too_large_for_a_round_tablet_is_refused_with_the_range_it_holds():
    with pytest.raises(ShapeCannotHoldDose, match=r"^shape: 'round' cannot hold 400 mg .* holds"):
        design_for(**{"dose.unit": "mg", "dose.value": 400, "max_single_dose_mg": ...})


def test_a_dose_too_small_for_a_caplet_is_refused():
    with pytest.raises(ShapeCannotHoldDose, match=r"^shape: 'caplet' cannot hold 0.5 mg"):
        design_for(**{"dose.unit": "mg", "dose.value": 0.5, "shape": "caplet"})


def test_ring_keeps_a_printable_wall():
    design = design_for(shape="ring")
    wall = (
        design.dimensions_mm["outer_diameter_mm"] - design.dimensions_mm["hole_diameter_mm"]
    ) / 2
    assert wall >= 1.6
    assert design.sa_v_per_mm > design_for().sa_v_per_mm  # the hole adds surface


def test_chamfered_round_tablet_still_holds_the_dose():
    plain, chamfered = design_for(), design_for(chamfer_mm=0.3)
    assert chamfered.dimensions_mm["chamfer_mm"] == pytest.approx(0.3, rel=0.02)
    assert chamfered.dimensions_mm["diameter_mm"] > plain.dimensions_mm["diameter_mm"]
    assert_holds_dose(chamfered, 12.5)


def test_chamfer_larger_than_a_quarter_of_the_height_is_refused():
    with pytest.raises(DosingError, match=r"^chamfer_mm: 1 is above 0\.6\d mm"):
        design_for(chamfer_mm=1.0)


def test_sa_v_mode_keeps_the_ratio_across_doses():
    ratios = []
    for dose_mg in (12, 16, 20, 25, 30):
        design = design_for(sa_v=1.3, **{"dose.unit": "mg", "dose.value": dose_mg})
        assert_holds_dose(design, dose_mg)
        ratios.append(design.sa_v_per_mm)
    assert all(abs(r - 1.3) / 1.3 <= 0.05 for r in ratios), ratios
    # without the mode, the usual aspect lets SA/V fall as the dose grows
    plain = [design_for(**{"dose.unit": "mg", "dose.value": d}).sa_v_per_mm for d in (12, 30)]
    assert plain[0] - plain[1] > 0.2


def test_sa_v_out_of_reach_is_refused():
    with pytest.raises(ShapeCannotHoldDose, match=r"^sa_v_per_mm: 0\.5 is not reachable"):
        design_for(sa_v=0.5)


def test_reference_sa_v_is_that_of_a_10_by_4_mm_tablet():
    assert (
        pytest.approx((2 * math.pi * 25 + math.pi * 10 * 4) / (math.pi * 25 * 4))
        == REFERENCE_SA_V_PER_MM
    )


def test_layer_height_outside_printable_range_is_refused():
    with pytest.raises(DosingError, match=r"^layer_height_mm: 0 is outside"):
        design_for(layer_mm=0.0)


@st.composite
def prescriptions(draw):
    """Valid prescriptions across units, patients, shapes, lots and layer heights."""
    unit = draw(st.sampled_from(["mg", "mg/kg", "mg/m2"]))
    weight = draw(st.floats(2.0, 150.0))
    value = {
        "mg": st.floats(0.5, 600.0),
        "mg/kg": st.floats(0.05, 10.0),
        "mg/m2": st.floats(1.0, 300.0),
    }[unit]
    return (
        {
            "shape": draw(st.sampled_from(sorted(SHAPES))),
            "dose.unit": unit,
            "dose.value": draw(value),
            "patient.weight_kg": weight,
            "patient.height_cm": draw(st.floats(45.0, 200.0)),
            "max_single_dose_mg": draw(st.none() | st.floats(1.0, 1000.0)),
            "bsa_formula": draw(st.sampled_from(["mosteller", "dubois", "haycock"])),
        },
        {
            "loading_percent_w_w": draw(st.floats(2.0, 60.0)),
            "density_g_cm3": draw(st.floats(0.85, 1.4)),
            "assay_percent": draw(st.floats(90.0, 110.0)),
            "dose_step_mg": draw(st.sampled_from([0.01, 0.1, 0.5, 1.0])),
        },
        draw(st.sampled_from(LAYERS_MM)),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prescriptions())
def test_any_valid_prescription_gives_a_tablet_holding_its_dose_or_a_typed_refusal(case):
    changes, lot_changes, layer_mm = case
    if changes["max_single_dose_mg"] is None:
        changes["max_single_dose_mg"] = ...
    try:
        design = design_for(layer_mm=layer_mm, lot_changes=lot_changes, **changes)
    except DosingError as refusal:
        event(f"refused: {type(refusal).__name__}")
        assert "\n" not in str(refusal)
        return
    event(f"designed: {design.shape}")
    formulation = lot(**lot_changes)
    dose = calculate(parse_prescription(rx_data(**changes)), formulation, on=TODAY)
    assert_holds_dose(design, dose.dose_mg)


@settings(max_examples=60, deadline=None)
@given(
    shape=st.sampled_from(sorted(SHAPES)),
    fraction=st.floats(0.02, 0.98),
    layer_mm=st.sampled_from(LAYERS_MM),
)
def test_every_dose_inside_a_shapes_range_is_designed(shape, fraction, layer_mm):
    """Doses a shape can hold are never refused: the solver is not vacuously cautious."""
    kind = SHAPES[shape]
    low_size, high_size = kind.size_range_mm
    heights = [h for h in (kind.height_range_mm[0], kind.height_range_mm[1])]
    area = kind.area_coefficient
    content = lot().drug_mg_per_mm3
    layer_low = math.ceil(heights[0] / layer_mm - 1e-9) * layer_mm
    layer_high = math.floor(heights[1] / layer_mm + 1e-9) * layer_mm
    # stay inside the band where a single unit fits on some whole-layer height
    low = area * (low_size * 1.3) ** 2 * layer_low * 1.05
    high = area * (high_size * 0.8) ** 2 * layer_high * 0.95
    volume = low + fraction * (high - low)
    dose_mg = round(volume * content, 2)
    design = design_for(
        layer_mm=layer_mm,
        lot_changes={"dose_step_mg": 0.01},
        shape=shape,
        **{"dose.unit": "mg", "dose.value": dose_mg, "max_single_dose_mg": ...},
    )
    assert design.units_per_dose == 1
    assert_holds_dose(design, dose_mg)
