"""The CapabilityStatement served at /fhir/metadata: what this server does in FHIR R4, and how
prescribing systems authenticate (OAuth2 client credentials, SMART-style token URL).
"""

from __future__ import annotations

from typing import Any

from printmed.intake.fhir_order import FORMULATION_EXTENSION, SHAPE_EXTENSION

SOFTWARE_VERSION = "0.1.0"


def capability_statement(base_url: str, released_on: str) -> dict[str, Any]:
    """base_url: the server root ("http://host:port/"); released_on: date of this build."""
    token_url = base_url.rstrip("/") + "/oauth/token"
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": released_on,
        "kind": "instance",
        "software": {"name": "printmed", "version": SOFTWARE_VERSION},
        "implementation": {
            "description": "printmed point-of-care tablet printing",
            "url": base_url.rstrip("/") + "/fhir",
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Send one MedicationRequest per order (not a Bundle), with the body "
                    "weight (and height for mg/m2) as contained Observations, dose in UCUM "
                    f"mg, mg/kg or mg/m2; optional extensions {FORMULATION_EXTENSION} and "
                    f"{SHAPE_EXTENSION}. Retries should carry an Idempotency-Key header."
                ),
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "restful-security-service",
                                    "code": "OAuth",
                                }
                            ]
                        }
                    ],
                    "description": "OAuth2 client credentials; scopes prescriptions.write, "
                    "prescriptions.read",
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/"
                            "oauth-uris",
                            "extension": [{"url": "token", "valueUri": token_url}],
                        }
                    ],
                },
                "resource": [
                    {
                        "type": "MedicationRequest",
                        "interaction": [{"code": "create"}, {"code": "read"}],
                        "versioning": "no-version",
                        "conditionalCreate": False,
                    },
                    {
                        "type": "Task",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [
                            {
                                "name": "focus",
                                "type": "reference",
                                "documentation": "MedicationRequest/{id} of the order",
                            }
                        ],
                    },
                    {"type": "MedicationDispense", "interaction": [{"code": "read"}]},
                ],
            }
        ],
    }
