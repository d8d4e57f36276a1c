"""Manufacture: prescription + lot + printer profile → dose → design → plate → G-code → gate.

One path for every way in (CLI, pages, API, FHIR); the result is an immutable `GatedBatch`
that exists only for G-code the independent reader passed. No store, no HTTP.
"""

from typing import TYPE_CHECKING

from printmed.lazy_exports import lazy_exports

# Re-exported lazily: `dose_for` is arithmetic and must not load the slicer and writer that
# `batch` imports (Numba, trimesh), which take seconds to import.
if TYPE_CHECKING:
    from printmed.manufacture.batch import GatedBatch as GatedBatch
    from printmed.manufacture.batch import TabletPlan as TabletPlan
    from printmed.manufacture.batch import design_for as design_for
    from printmed.manufacture.batch import gate_plan as gate_plan
    from printmed.manufacture.batch import make_batch as make_batch
    from printmed.manufacture.batch import manufacture as manufacture
    from printmed.manufacture.batch import plan_tablet as plan_tablet
    from printmed.manufacture.batch import profile_for as profile_for
    from printmed.manufacture.batch import warm_up as warm_up
    from printmed.manufacture.dosing_path import dose_for as dose_for
    from printmed.manufacture.gate import RELEASE_TOLERANCE as RELEASE_TOLERANCE
    from printmed.manufacture.gate import DoseGateFailed as DoseGateFailed
    from printmed.manufacture.gate import TabletCheck as TabletCheck
    from printmed.manufacture.plate import Plate as Plate
    from printmed.manufacture.plate import PlateItem as PlateItem
    from printmed.manufacture.plate import keep_sliced_parts as keep_sliced_parts
    from printmed.manufacture.plate import make_plate as make_plate

_EXPORTS = {
    "printmed.manufacture.batch": (
        "GatedBatch",
        "TabletPlan",
        "design_for",
        "gate_plan",
        "make_batch",
        "manufacture",
        "plan_tablet",
        "profile_for",
        "warm_up",
    ),
    "printmed.manufacture.dosing_path": ("dose_for",),
    "printmed.manufacture.gate": ("RELEASE_TOLERANCE", "DoseGateFailed", "TabletCheck"),
    "printmed.manufacture.plate": ("Plate", "PlateItem", "keep_sliced_parts", "make_plate"),
}
__getattr__, __dir__, __all__ = lazy_exports(globals(), _EXPORTS)
