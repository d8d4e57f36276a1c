"""Intake: every outside order turned into a `dosing.Prescription`, or refused naming the field.

Native JSON (`dosing.parse_prescription`), FHIR R4 MedicationRequest (`fhir_order`), prescription
files (`files`) and the technician's form (`form`). Imports dosing and master data, no service.
"""

from typing import TYPE_CHECKING

from printmed.lazy_exports import lazy_exports

# Re-exported lazily: reading a native JSON file must not load fhir.resources' models.
if TYPE_CHECKING:
    from printmed.intake.fhir_order import is_fhir as is_fhir
    from printmed.intake.fhir_order import prescription_from_fhir as prescription_from_fhir
    from printmed.intake.files import read_json_file as read_json_file
    from printmed.intake.files import read_prescription as read_prescription

_EXPORTS = {
    "printmed.intake.fhir_order": ("is_fhir", "prescription_from_fhir"),
    "printmed.intake.files": ("read_json_file", "read_prescription"),
}
__getattr__, __dir__, __all__ = lazy_exports(globals(), _EXPORTS)
