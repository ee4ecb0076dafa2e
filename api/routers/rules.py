"""Threshold rule sets: read the active one and its versions, check a new one, activate it."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.deps import ManagerDep, SessionDep, StaffDep
from api.openapi_docs import problem
from triage.errors import BadRequest, Invalid, Problem
from triage.workflow import rules_admin

router = APIRouter(prefix="/v1/rules", tags=["rule sets"])

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")
RULE_SET_EXAMPLE: dict[str, Any] = {
    "name": "Local thresholds",
    "rules": [
        {
            "id": "universal",
            "description": "Universal services.",
            "when": "true",
            "level": 1,
            "rag": "green",
            "pathway": "universal_services",
        }
    ],
    "examples": [{"name": "nothing", "expect": {"level": 1, "rag": "green", "pathway": "universal_services"}}],
}
RULE_SET_BODY: dict[str, Any] = {
    "required": True,
    "description": 'The rule set as YAML text, or JSON {"source": "<the YAML>"}.',
    "content": {
        # A YAML body is the rule set document itself (a mapping), not a YAML string holding it.
        "application/yaml": {
            "schema": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "rules": {"type": "array", "minItems": 1, "items": {"type": "object"}},
                    "examples": {"type": "array", "items": {"type": "object"}},
                },
                "required": ["name", "rules"],
            },
            "example": RULE_SET_EXAMPLE,
        },
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"source": {"type": "string", "description": "The rule set's YAML text."}},
                "required": ["source"],
                "additionalProperties": False,
            },
        },
    },
}
VALIDATION_EXAMPLE: dict[str, Any] = {
    "valid": False,
    "problems": [{"line": 14, "path": "/rules/1/when", "message": "Rule 'neglect': the condition cannot be used: ..."}],
    "examples": [],
    "dry_run": None,
}


ACTIVE_EXAMPLE: dict[str, Any] = {
    "version": 2,
    "name": "Local thresholds",
    "activated_at": "2026-11-28T09:00:00+00:00",
    "rules": [
        {
            "id": "protection-plan",
            "description": "The child is already on a child protection plan and there is a new concern.",
            "level": 4,
            "rag": "red",
            "pathway": "strategy_discussion",
            "when": "child.current_plan == 'child_protection'",
        }
    ],
    "examples": 44,
    "source": "name: Local thresholds\nrules:\n  ...",
}
VERSION_EXAMPLE: dict[str, Any] = {
    "version": 2,
    "active": True,
    "created_at": "2026-11-28T09:00:00+00:00",
    "created_by": "0b7c6f1e-2f4e-4f5e-9b1a-1d2c3b4a5f6e",
    "activated_at": "2026-11-28T09:00:00+00:00",
}
DRY_RUN_EXAMPLE: dict[str, Any] = {
    "since": "2026-10-29T09:00:00+00:00",
    "referrals_considered": 412,
    "children_considered": 655,
    "changed": 31,
    "raised": 29,
    "lowered": 2,
    "referrals_changed": 24,
    "could_not_rate": 0,
    "rating_errors": [],
    "by_rule": {"housing-need": {"fired_before": 0, "fired_after": 31}},
}


async def rule_set_source(request: Request) -> str:
    """The YAML of a rule set from the body: YAML or plain text as it is, or JSON {"source": "..."}."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("Send the rule set as UTF-8 text.") from None
    if content_type in YAML_TYPES:
        return text
    if content_type in ("", "application/json") or content_type.endswith("+json"):
        try:
            body = json.loads(text) if text.strip() else {}
        except ValueError:
            raise BadRequest(
                'The body is not valid JSON; send YAML as application/yaml, or JSON {"source": ...}.'
            ) from None
        extra = sorted(set(body) - {"source"}) if isinstance(body, dict) else []
        if extra:
            # The version, its author and whether it is active are the service's to set, never the caller's.
            raise Invalid(
                problems=[
                    Problem(
                        pointer="/" + name.replace("~", "~0").replace("/", "~1"),
                        code="extra_forbidden",
                        message="Remove this field: send the rule set's YAML as source and nothing else.",
                    )
                    for name in extra
                ],
                summary="The rule set request has fields it may not set.",
            )
        if isinstance(body, dict) and isinstance(body.get("source"), str):
            return str(body["source"])
        raise Invalid(
            problems=[
                Problem(pointer="/source", code="field_missing", message="Give the rule set's YAML text as source.")
            ],
            summary="The rule set is missing.",
        )
    raise BadRequest('Send the rule set as application/yaml (or text/plain), or as JSON {"source": ...}.')


RuleSetSource = Annotated[str, Depends(rule_set_source)]
NOT_READABLE = problem("The body is not UTF-8 text, not valid JSON, or of another media type")


@router.get(
    "",
    summary="The active rule set: its version and every rule",
    responses={200: {"content": {"application/json": {"example": ACTIVE_EXAMPLE}}}},
)
def active_rules(session: SessionDep, caller: StaffDep) -> dict[str, Any]:
    return rules_admin.active(session=session)


@router.get(
    "/versions",
    summary="Every stored rule set version, newest first",
    responses={200: {"content": {"application/json": {"example": {"items": [VERSION_EXAMPLE]}}}}},
)
def rule_versions(session: SessionDep, caller: StaffDep) -> dict[str, Any]:
    return rules_admin.version_list(session=session)


@router.post(
    "/validate",
    summary="Check a rule set: problems with line numbers, failing examples, and a dry run over 30 days",
    openapi_extra={"requestBody": RULE_SET_BODY},
    responses={200: {"content": {"application/json": {"example": VALIDATION_EXAMPLE}}}, 400: NOT_READABLE},
)
def validate_rules(session: SessionDep, caller: ManagerDep, source: RuleSetSource) -> dict[str, Any]:
    return rules_admin.validate(session=session, caller=caller, source=source)


@router.post(
    "",
    status_code=201,
    summary="Store a new rule set version and activate it (only if it compiles and its examples pass)",
    openapi_extra={"requestBody": RULE_SET_BODY},
    responses={
        201: {"content": {"application/json": {"example": {**VERSION_EXAMPLE, "dry_run": DRY_RUN_EXAMPLE}}}},
        400: NOT_READABLE,
        422: {"description": "Not stored: the problems (with lines) and failing examples"},
    },
)
def activate_rules(session: SessionDep, caller: ManagerDep, source: RuleSetSource) -> JSONResponse:
    stored = rules_admin.activate(session=session, caller=caller, source=source)
    return JSONResponse(stored, status_code=201)
