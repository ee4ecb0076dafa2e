"""Examples and schemas for the OpenAPI document, so integrators can build against /openapi.json."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from schemas.referral_in import ReferralIn

REFERRAL_EXAMPLE: dict[str, Any] = {
    "referrer": {
        "name": "PC A Example",
        "role": "Response officer",
        "phone": "01733 111111",
        "agency_reference": "CC-0000001",
    },
    "immediate_danger": False,
    "concerns": {
        "categories": ["domestic_abuse"],
        "indicators": ["child_witnessed_abuse"],
        "summary": "Police called to a domestic incident at the family home; one child present and upset.",
    },
    "children": [
        {
            "first_name": "Alex",
            "last_name": "Example",
            "date_of_birth": "2016-05-04",
            "nhs_number": "9434765919",
            "address": {"line1": "1 Example Street", "postcode": "PE1 1AA"},
            "voice": {
                "views": "Mum and her boyfriend were shouting again and I was scared, so I went to my room.",
                "how_obtained": "Spoken to alone by the attending officer",
                "recorded_on": "2026-11-28",
            },
            "history": {"known_to_childrens_services": "no", "current_plan": "none"},
        }
    ],
    "consent": {"status": "not_sought", "reason": "Seeking consent could increase the risk to the child."},
    "agency_details": {"occurrence_number": "CC-0000001", "children_present": True},
}

REFERRAL_CREATED_EXAMPLE: dict[str, Any] = {
    "id": "6f1c1d3e-9f0a-4c55-8a61-0f0e7b1f2a3b",
    "reference": "MASH-2026-000123",
    "status": "received",
    "received_at": "2026-11-28T10:15:00+00:00",
    "decision_due_at": "2026-11-30T10:15:00+00:00",
    "feedback_url": "https://frontdoor.example.org/v1/referrals/6f1c1d3e-9f0a-4c55-8a61-0f0e7b1f2a3b/feedback",
}

REFERRAL_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"$ref": "#/components/schemas/ReferralIn"},
            "example": REFERRAL_EXAMPLE,
        }
    },
}


def install(app: FastAPI) -> None:
    """Generate the document once, adding the referral body's schemas (validated in triage, out of FastAPI's sight)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema = ReferralIn.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components["ReferralIn"] = schema
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
