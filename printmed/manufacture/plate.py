"""Tablets of one lot on one plate: slice each design once, arrange, write, and gate.

The G-code is returned only after the independent reader has held every tablet to ±1 % of its
dose; a plate that fails raises and leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dosing.design import TabletDesign
from dosing.formulation import Formulation
from gcode.errors import MaterialWindowRefused
from gcode.flow import PartFlow, plan_flow
from gcode.mesh_io import PartMesh, check_fits, check_triangles
from gcode.plate import arrange, plan_prime
from gcode.profile import MachineProfile
from gcode.settings import SliceSettings, settings_for
from gcode.slice import SlicedPart, slice_part
from gcode.write import PlacedTablet, PlateHeader, Sequence, write_gcode
from printmed.manufacture.gate import GateTarget, TabletCheck, check_dose, tablet_name
from printmed.manufacture.tolerances import TOL

# (stage, done, total); stages: "slice", "write", "gate"
ManufactureProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PlateItem:
    """One tablet to print: its design and the dose (mg) it must hold."""

    design: TabletDesign
    target_mg: float
    step: int | None = None  # a schedule's step (1 is the first taken), named in its label


@dataclass(frozen=True)
class Plate:
    """G-code that passed the gate: text, SHA-256, per-tablet checks, reader's figures."""

    gcode: str
    sha256: str
    tablets: list[TabletCheck]
    profile_id: str
    formulation_id: str
    lot: str
    mm3_per_e: float
    print_time_s: float
    sequence: Sequence
    prime_volume_mm3: float = 0.0  # read back from the prime object (not a tablet)


# The parts sliced last, by their exact triangles, settings and target volume: slicing and flow
# depend on nothing else, so the same standard dose (every child on 12.5 mg tablets of one lot
# on one printer profile) is sliced once. Each plate is still written and its own G-code read by
# the gate. Parts of up to REMEMBERED_BYTES of triangles (tablets, not mesh plates); the service
# keeps settings.sliced_parts_kept of them (keep_sliced_parts).
REMEMBERED_BYTES = 1 << 20
_PartKey = tuple[bytes, tuple[int, ...], SliceSettings, float]
_recent: OrderedDict[_PartKey, tuple[SlicedPart, PartFlow]] = OrderedDict()
_recent_lock = threading.Lock()
_kept = 32


def keep_sliced_parts(count: int) -> None:
    """Remember the last `count` parts sliced in this process (0: slice every part afresh)."""
    global _kept
    with _recent_lock:
        _kept = count
        while len(_recent) > _kept:
            _recent.popitem(last=False)


def sliced_part(
    triangles: np.ndarray, settings: SliceSettings, volume_mm3: float, name: str
) -> tuple[SlicedPart, PartFlow]:
    """The part's layers and flow, slicing it unless these very triangles were sliced with
    these settings for this volume lately; what is returned is read-only, as it is shared."""
    if triangles.nbytes > REMEMBERED_BYTES or _kept == 0:
        part = slice_part(triangles, settings)
        return part, plan_flow(part, settings.line_width_mm, volume_mm3, name)
    key = (triangles.tobytes(), triangles.shape, settings, volume_mm3)
    with _recent_lock:
        found = _recent.get(key)
        if found is not None:
            _recent.move_to_end(key)
            return found
    part = slice_part(triangles, settings)
    flow = plan_flow(part, settings.line_width_mm, volume_mm3, name)
    for layer in part.layers:
        for path in layer.paths:
            path.points.setflags(write=False)
    flow.mm3_per_mm.setflags(write=False)
    with _recent_lock:
        _recent[key] = (part, flow)
        while len(_recent) > _kept:
            _recent.popitem(last=False)
    return part, flow


def make_plate(
    items: list[PlateItem],
    formulation: Formulation,
    profile: MachineProfile,
    *,
    job_id: str,
    progress: ManufactureProgress | None = None,
    sequence: Sequence = "layers",
) -> Plate:
    """Slice, arrange, write and gate tablets of one lot (doses may differ) on one plate."""
    mm3_per_e = mm3_per_e_for(formulation, profile)
    nozzle_c, bed_c = temperatures_for(formulation)
    settings = settings_for(profile)
    # one slicing per distinct design; the plate repeats it
    sliced: dict[int, tuple[PartMesh, SlicedPart, PartFlow]] = {}
    for n, item in enumerate(items):
        key = id(item.design)
        if key not in sliced:
            part_mesh = check_triangles(item.design.triangles, name=f"tablet[{n}]")
            check_fits(part_mesh, profile)
            part, flow = sliced_part(
                part_mesh.triangles, settings, item.design.volume_mm3, f"tablet[{n}]"
            )
            sliced[key] = (part_mesh, part, flow)
        if progress is not None:
            progress("slice", n + 1, len(items))
    footprints = [sliced[id(i.design)][0].extents_mm[:2] for i in items]
    offsets = arrange([(w, d) for w, d in footprints], profile)
    tablets = []
    for n, item in enumerate(items):
        _, part, flow = sliced[id(item.design)]
        name = tablet_name(item.design.shape, item.target_mg, item.step)
        tablets.append(PlacedTablet(name, part, offsets[n], flow, item.target_mg))
    header = PlateHeader(
        job_id,
        formulation.lot,
        formulation.id,
        nozzle_c,
        bed_c,
        mm3_per_e,
        notes=(f"drug content {formulation.drug_mg_per_mm3:.6f} mg/mm3 ({formulation.drug_name})",),
    )
    text = write_gcode(
        tablets,
        profile,
        header,
        sequence=sequence,
        progress=None if progress is None else lambda d, t: progress("write", d, t),
        prime=plan_prime(profile),
    )
    targets = [GateTarget(t.name, t.target_mg or 0.0, t.flow.target_volume_mm3) for t in tablets]
    checks, reading = check_dose(
        text,
        targets,
        profile,
        mm3_per_e,
        formulation.drug_mg_per_mm3,
        progress=None if progress is None else lambda d, t: progress("gate", d, t),
    )
    return Plate(
        text,
        hashlib.sha256(text.encode()).hexdigest(),
        checks,
        profile.id,
        formulation.id,
        formulation.lot,
        mm3_per_e,
        reading.print_time_s,
        sequence,
        reading.prime_volume_mm3,
    )


def check_process(formulation: Formulation, profile: MachineProfile) -> None:
    """The one refusal of a printer for a lot of another process (FDM filament, SSE paste)."""
    if formulation.process != profile.process:
        raise MaterialWindowRefused(
            "printer",
            profile.id,
            f"prints {profile.process}, but lot {formulation.id} is {formulation.process}",
        )


def mm3_per_e_for(formulation: Formulation, profile: MachineProfile) -> float:
    """Volume of one unit of E on this printer with this lot (lot's filament diameter for FDM)."""
    check_process(formulation, profile)
    if profile.process == "fdm":
        lot_d = formulation.filament_diameter_mm
        assert lot_d is not None and profile.filament_diameter_mm is not None
        if abs(lot_d - profile.filament_diameter_mm) > TOL.filament_mismatch_mm:
            raise MaterialWindowRefused(
                "formulation.filament_diameter_mm",
                lot_d,
                f"does not fit {profile.id}'s {profile.filament_diameter_mm:g} mm feeder",
            )
        return profile.mm3_per_e(lot_d)
    return profile.mm3_per_e()


def temperatures_for(formulation: Formulation) -> tuple[float, float]:
    """Nozzle (middle of the lot's window, or the paste temperature) and bed, °C."""
    if formulation.process == "fdm":
        assert formulation.nozzle_temp_c is not None
        low, high = formulation.nozzle_temp_c
        return (low + high) / 2.0, formulation.bed_temp_c
    assert formulation.paste_temp_c is not None
    return formulation.paste_temp_c, formulation.bed_temp_c
