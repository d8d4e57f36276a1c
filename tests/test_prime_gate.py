"""The prime line at the gate: read apart from the tablets, bounded by the profile, kept off the
tablets and on the bed, one at most and before the first tablet; a profile that states no prime
primes nothing and lets none through."""

from __future__ import annotations

import copy
import json
import re

import pytest

from dosing.calculate import calculate
from dosing.design import design_tablet
from dosing.prescription import parse_prescription
from gcode.profile import MachineProfile, load_profile
from printmed.catalog import formulation
from printmed.jobs.stored_gate import StoredProgramDiffers, check_same_gate
from printmed.manufacture import PlateItem, make_plate
from printmed.manufacture.gate import DoseGateFailed, GateTarget, check_dose
from printmed.manufacture.plate import Plate
from tests.gcode.tampering import scale_tablet_e
from tests.test_make_gate import ON, RX

PRIME = 2  # two tablets, then the prime line: object 2


@pytest.fixture(scope="module")
def fdm() -> MachineProfile:
    return load_profile("fdm-pharma-04")


@pytest.fixture(scope="module")
def bare(fdm: MachineProfile, tmp_path_factory: pytest.TempPathFactory) -> MachineProfile:
    """fdm-pharma-04 as a profile file that says nothing of a prime."""
    data = json.loads(fdm.model_dump_json())
    for field in ("prime_volume_mm3", "prime_pressure_mm3", "prime_width_mm"):
        del data[field]
    del data["max_prime_volume_mm3"]
    path = tmp_path_factory.mktemp("profiles") / "fdm-bare.json"
    path.write_text(json.dumps(data))
    return load_profile(path)


def _items(fdm: MachineProfile) -> list[PlateItem]:
    lot = formulation("propranolol-pva-10")
    items = []
    for dose_mg in (5.0, 12.5):
        data = copy.deepcopy(RX)
        data["dose"]["value"] = dose_mg
        design = design_tablet(
            calculate(parse_prescription(data), lot, on=ON), lot, "round", fdm.layer_height_mm
        )
        items.append(PlateItem(design, design.dose_mg))
    return items


@pytest.fixture(scope="module")
def primed(fdm: MachineProfile) -> Plate:
    return make_plate(_items(fdm), formulation("propranolol-pva-10"), fdm, job_id="prime")


def _gate(text: str, plate: Plate, profile: MachineProfile):  # type: ignore[no-untyped-def]
    targets = [GateTarget(t.name, t.target_mg, t.target_volume_mm3) for t in plate.tablets]
    return check_dose(
        text, targets, profile, plate.mm3_per_e, formulation("propranolol-pva-10").drug_mg_per_mm3
    )


def test_the_prime_is_read_apart_and_the_tablets_are_as_without_it(primed, bare, fdm):
    unprimed = make_plate(_items(fdm), formulation("propranolol-pva-10"), bare, job_id="prime")
    assert "M486 Aprime" not in unprimed.gcode and "M486 T2\n" in unprimed.gcode
    assert unprimed.prime_volume_mm3 == 0.0
    assert primed.tablets == unprimed.tablets  # every tablet figure, bit for bit
    assert primed.prime_volume_mm3 == pytest.approx(fdm.prime_volume_mm3, abs=1e-4)
    _, reading = _gate(primed.gcode, primed, fdm)
    assert reading.prime_labels == [PRIME] and reading.object_names == {PRIME: "prime"}
    assert reading.declared_objects == 3 and next(iter(reading.objects)) == PRIME


@pytest.mark.parametrize("factor", [2.6, -0.5])
def test_a_prime_outside_zero_to_the_profiles_bound_is_refused(primed, fdm, factor):
    tampered = scale_tablet_e(primed.gcode, PRIME, factor)  # 20.8 mm³ > 20; −4 mm³ < 0
    with pytest.raises(DoseGateFailed) as refused:
        _gate(tampered, primed, fdm)
    assert refused.value.field == "gcode.prime_volume_mm3"
    assert refused.value.value == pytest.approx(8.0 * factor, abs=1e-3)
    assert "outside 0 to fdm-pharma-04's max_prime_volume_mm3 of 20" in str(refused.value)


def test_a_prime_within_the_bound_passes(primed, fdm):
    checks, reading = _gate(scale_tablet_e(primed.gcode, PRIME, 2.4), primed, fdm)  # 19.2 mm³
    assert reading.prime_volume_mm3 == pytest.approx(19.2, abs=1e-3)
    assert checks == primed.tablets


def _prime_at(text: str, y_mm: float, x_mm: tuple[float, float] | None = None) -> str:
    """The prime line moved to `y_mm` (and from x_mm[0] to x_mm[1]): its label's lines only."""
    head, start, rest = text.partition("M486 Aprime\n")
    block, end, tail = rest.partition("M486 S-1\n")
    block = re.sub(r"Y\d+\.\d+", f"Y{y_mm:.3f}", block)
    if x_mm is not None:
        block = re.sub(r"G0 X\d+\.\d+", f"G0 X{x_mm[0]:.3f}", block)
        block = re.sub(r"G1 X\d+\.\d+", f"G1 X{x_mm[1]:.3f}", block)
    return head + start + block + end + tail


def test_a_prime_over_a_tablets_footprint_is_refused(primed, fdm):
    _, reading = _gate(primed.gcode, primed, fdm)
    tablet = reading.objects[1]
    (x0, _, _), (x1, y1, _) = tablet.min_xyz_mm, tablet.max_xyz_mm
    over = _prime_at(primed.gcode, y1 + 0.5, (x0 - 2, x1 + 2))  # 0.5 mm behind its edge
    with pytest.raises(DoseGateFailed, match="overlaps tablet 1's footprint") as refused:
        _gate(over, primed, fdm)
    assert refused.value.field == "gcode.prime"
    # beside it, a line width and more away: clear
    _gate(_prime_at(primed.gcode, y1 + 1.0, (x0 - 2, x1 + 2)), primed, fdm)


def test_a_prime_off_the_bed_is_refused(primed, fdm):
    with pytest.raises(DoseGateFailed, match="is off fdm-pharma-04's bed") as refused:
        _gate(_prime_at(primed.gcode, 0.1), primed, fdm)  # its 0.6 mm width overhangs
    assert refused.value.field == "gcode.prime"


def test_a_second_prime_object_is_refused(primed, fdm):
    second = "M486 S3\nM486 Aprime\nG1 X5 Y3 F600\nM486 S-1\n"
    tampered = primed.gcode.replace("\nM486 S0\n", f"\n{second}M486 S0\n", 1)
    with pytest.raises(DoseGateFailed, match="two or more prime objects") as refused:
        _gate(tampered, primed, fdm)
    assert refused.value.value == [2, 3]


def test_a_prime_after_a_tablet_is_refused(primed, fdm):
    tampered = primed.gcode.replace("M486 S2\nM486 Aprime\n", "M486 S0\nM486 S2\nM486 Aprime\n")
    with pytest.raises(DoseGateFailed, match="opened after a tablet") as refused:
        _gate(tampered, primed, fdm)
    assert refused.value.field == "gcode.prime"


def test_a_profile_that_states_no_prime_primes_nothing_and_lets_none_through(primed, bare):
    assert not bare.primes and bare.max_prime_volume_mm3 == 0.0 and bare.prime_band_mm == 0.0
    with pytest.raises(DoseGateFailed) as refused:
        _gate(primed.gcode, primed, bare)
    assert refused.value.field == "gcode.prime_volume_mm3"


def test_an_object_named_prime_is_no_tablet_but_an_unnamed_extra_object_is_refused(primed, fdm):
    unnamed = primed.gcode.replace("M486 Aprime\n", "")
    with pytest.raises(DoseGateFailed) as refused:
        _gate(unnamed, primed, fdm)
    assert refused.value.field == "gcode.objects" and refused.value.value == [0, 1, 2]


def test_the_claim_refuses_a_prime_volume_other_than_the_verified_one() -> None:
    tablets = [{"index": 0, "gcode_mg": 5.0}]
    recorded = {"tablets": tablets, "tolerance_percent": 1.0, "prime_volume_mm3": 8.0}
    check_same_gate(recorded, dict(recorded))
    with pytest.raises(StoredProgramDiffers) as refused:
        check_same_gate(recorded, {**recorded, "prime_volume_mm3": 12.0})
    assert refused.value.field == "gate.prime_volume_mm3"
    # verified before the prime line: none recorded, none read
    old = {"tablets": tablets, "tolerance_percent": 1.0}
    check_same_gate(old, {**old, "prime_volume_mm3": 0.0})


def test_the_bundled_profiles_prime_and_state_their_bound() -> None:
    for name in ("fdm-pharma-04", "sse-syringe-08"):
        profile = load_profile(name)
        prime = profile.prime_volume_mm3 + profile.prime_pressure_mm3
        assert profile.primes and 0 < prime <= profile.max_prime_volume_mm3
    assert load_profile("sse-syringe-08").prime_pressure_mm3 > 0  # a syringe builds pressure
