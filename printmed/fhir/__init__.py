"""HL7 FHIR R4 for prescribing systems: MedicationRequest in, Task and MedicationDispense out."""
