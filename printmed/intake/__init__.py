"""Intake: every outside order turned into a `dosing.Prescription`, or refused naming the field.

Native JSON (`dosing.parse_prescription`), FHIR R4 MedicationRequest (`fhir_order`), prescription
files (`files`) and the technician's form (`form`). Imports dosing and master data, no service.
"""

from printmed.intake.fhir_order import is_fhir, prescription_from_fhir
from printmed.intake.files import read_json_file, read_prescription

__all__ = ["is_fhir", "prescription_from_fhir", "read_json_file", "read_prescription"]
