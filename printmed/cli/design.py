"""`printmed design RX.json -o tablet.stl`: the tablet that holds the dose, as a mesh file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from printmed.cli.output import print_json, print_pairs, write_atomically

if TYPE_CHECKING:
    from dosing.prescription import Prescription


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("design", help="design the tablet that holds the dose")
    parser.add_argument("prescription", type=Path, help="native JSON or FHIR MedicationRequest")
    parser.add_argument("-o", "--output", type=Path, help="write the tablet mesh (STL)")
    parser.add_argument("--printer", help="printer profile id (default: first for the lot)")
    parser.add_argument("--chamfer-mm", type=float, default=0.0, help="edge chamfer, round only")
    parser.add_argument(
        "--sa-v", type=float, dest="sa_v_per_mm", help="keep surface/volume at this ratio (1/mm)"
    )
    parser.add_argument(
        "--mesh",
        metavar="FILE|NAME",
        help="tablet shape from a mesh: a bundled shape (star, heart, …) or an .stl/.3mf file",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def with_mesh(rx: Prescription, value: str) -> Prescription:
    """The prescription with its tablet shape from `--mesh` (a bundled name or a mesh file)."""
    from dosing.prescription import parse_prescription
    from printmed import catalog

    data = rx.model_dump(mode="json", exclude_none=True)
    return parse_prescription({**data, "shape": "mesh", "mesh": catalog.mesh_choice(value)})


def run(args: argparse.Namespace) -> int:
    # Imported when run, so that `printmed design --help` does not load the slicer (Numba).
    from printmed.intake import read_prescription
    from printmed.manufacture import plan_tablet

    rx = read_prescription(args.prescription)
    if args.mesh is not None:
        rx = with_mesh(rx, args.mesh)
    plan = plan_tablet(rx, args.printer, chamfer_mm=args.chamfer_mm, sa_v_per_mm=args.sa_v_per_mm)
    design = plan.design
    if args.output is not None:
        stl = design.mesh.export(file_type="stl")
        assert isinstance(stl, bytes)  # trimesh exports STL as binary
        write_atomically(args.output, stl)
    if args.json:
        print_json(
            {
                "prescription_id": rx.id,
                "printer": plan.profile.id,
                "stl": str(args.output) if args.output else None,
                **design.to_dict(),
            }
        )
        return 0
    dimensions = ", ".join(
        f"{k.removesuffix('_mm')} {v:.2f}" for k, v in design.dimensions_mm.items()
    )
    print_pairs(
        [
            ("prescription", rx.id),
            ("dose", f"{plan.dose.dose_mg:g} mg per administration"),
            (
                "tablet",
                f"{design.shape}: {dimensions} mm ({design.layers} layers of "
                f"{design.layer_height_mm:g} mm on {plan.profile.id})",
            ),
            *(
                [
                    (
                        "shape file",
                        f"{design.source_mesh['name']} sha256 {design.source_mesh['sha256']}",
                    )
                ]
                if design.source_mesh
                else []
            ),
            ("units", f"{design.units_per_dose} per dose, {design.units_total} in all"),
            ("volume", f"{design.volume_mm3:.3f} mm³ per unit (mesh {design.mesh_volume_mm3:.3f})"),
            ("drug", f"{design.dose_mg:.4g} mg per unit at {design.drug_mg_per_mm3:.5f} mg/mm³"),
            ("SA/V", f"{design.sa_v_per_mm:.3f} per mm"),
            ("mesh", str(args.output) if args.output else "(not written; use -o)"),
        ]
    )
    return 0
