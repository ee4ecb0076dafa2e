"""Examples and schemas for the OpenAPI document, so integrators can build against /openapi.json."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import FastAPI, Query
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from api import errors
from api.deps import bearer, current_referral, json_body, rate_limited, role_checker
from schemas.problem_io import Problem, ValidationProblem
from schemas.referral_in import ReferralIn

# A pagination cursor as this service writes them (unpadded base64url), for the `cursor` and `after` parameters.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
# The `cursor` parameter of every list paged by cursor.
PageCursor = Annotated[
    str | None,
    Query(description="next_cursor from the previous page.", min_length=1, max_length=500, pattern=CURSOR_PATTERN),
]

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

# An information request as staff and the partner it is addressed to read it.
INFORMATION_REQUEST_EXAMPLE: dict[str, Any] = {
    "id": "5e4f3a2b-1c0d-4e9f-8a7b-6c5d4e3f2a1b",
    "referral_id": "6f1c1d3e-9f0a-4c55-8a61-0f0e7b1f2a3b",
    "organisation_id": "0b7c6f1e-2f4e-4f5e-9b1a-1d2c3b4a5f6e",
    "question": "Is the family registered with your practice, and were the children seen in the last 12 months?",
    "status": "open",
    "asked_at": "2026-11-28T10:40:00+00:00",
    "due_at": "2026-11-29T10:15:00+00:00",
    "overdue": False,
    "response": None,
    "answered_at": None,
    "reference": "MASH-2026-000123",
    "children": [
        {
            "first_name": "Alex",
            "last_name": "Example",
            "date_of_birth": "2016-05-04",
            "expected_date_of_birth": None,
            "nhs_number": "9434765919",
        }
    ],
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


def problem(description: str) -> dict[str, Any]:
    """An error answer for a router's `responses=`: problem+json (RFC 9457), as api/errors.py renders it."""
    return {
        "description": description,
        "content": {errors.PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


# A rule of every request body that JSON Schema could only state as a pattern on each string (schemas/text_io.py).
TEXT_RULE = "\nText anywhere in a request body must not contain the NUL character (U+0000): 422 names the field.\n"
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}}
# What each shared dependency refuses with, so every route that uses one documents it without repeating it.
_REFUSALS: dict[str, tuple[int, str]] = {
    "caller": (401, "No API key, or one that is unknown or revoked"),
    "role": (403, "Your role may not do this"),
    "referral": (404, "No such referral, or not one you may see"),
    "rate": (429, "Too many requests from this key this minute; wait for Retry-After seconds"),
    "json": (400, "The body is not JSON, or not UTF-8"),
}


def _dependency_calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _dependency_calls(sub)


def _closure_of(call: Callable[..., Any], factory: Callable[..., Any]) -> bool:
    return getattr(call, "__qualname__", "").startswith(f"{factory.__qualname__}.<locals>.")


def _refusals(route: APIRoute) -> dict[int, dict[str, Any]]:
    """The error answers a route can give because of its dependencies, its parameters and its body."""
    kinds = set()
    for call in _dependency_calls(route.dependant):
        if call is bearer:
            kinds.add("caller")
        elif call is current_referral:
            kinds.add("referral")
        elif call is json_body:
            kinds.add("json")
        elif _closure_of(call, role_checker):
            kinds.add("role")
        elif _closure_of(call, rate_limited):
            kinds.add("rate")
    found = {status: problem(description) for kind, (status, description) in _REFUSALS.items() if kind in kinds}
    if 429 in found:
        found[429]["headers"] = RETRY_AFTER
    has_body = route.body_field is not None or "requestBody" in (route.openapi_extra or {})
    if route.body_field is not None:
        found[400] = problem(_REFUSALS["json"][1])
    if has_body:
        found[413] = problem("The body is over the size limit (256 KiB)")
    if has_body or route.dependant.path_params or route.dependant.query_params or route.dependant.header_params:
        found[422] = problem("Problems to correct, each with a JSON Pointer (or the parameter) and a prompt")
    return found


def _api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """Each documented API route with the path it is served at."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before included routers were kept as branches
        for route in app.routes:
            if isinstance(route, APIRoute):
                yield route.path_format, route
        return
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            yield context.path_format or route.path_format, route


def _document_errors(app: FastAPI, document: dict[str, Any]) -> None:
    """Give every operation its error answers, each with the problem+json schema the error handlers render."""
    for path, route in _api_routes(app):
        if not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = document["paths"].get(path, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status, derived in _refusals(route).items():
                responses.setdefault(str(status), derived)
            for status, response in responses.items():
                if status[0] not in "45":
                    continue
                media = response.setdefault("content", {}).setdefault(errors.PROBLEM, {})
                schema = "ValidationProblem" if status == "422" else "Problem"
                media.setdefault("schema", {"$ref": f"#/components/schemas/{schema}"})
                response.setdefault("description", errors.title_for(int(status)))
                # Every error is problem+json (api/errors.py): FastAPI's default plain JSON here would be untrue.
                response["content"].pop("application/json", None)
            operation["responses"] = dict(sorted(responses.items()))
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)


def install(app: FastAPI) -> None:
    """Generate the document once, adding the referral body's schemas (validated in triage, out of FastAPI's sight)
    and the problem+json answers of every route."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        description = (app.description or "") + TEXT_RULE
        document = get_openapi(title=app.title, version=app.version, description=description, routes=app.routes)
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for model in (ReferralIn, Problem, ValidationProblem):
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
            for name, definition in schema.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components[model.__name__] = schema
        _document_errors(app, document)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
