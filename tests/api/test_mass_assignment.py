"""Mass assignment (OWASP API3:2023): on every write route, a field the caller may not set (a status, a rating, the
holder, the owning organisation, an id, a time the service stamps, a role) is refused with 422 problem+json pointing
at it, and nothing is written; the same body without it succeeds, so the field alone was the reason."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.api.records_support import Target, World, api_routes, call, changed_tables, request_body, snapshot
from tests.conftest import Actor

WRITING_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# A refused referral is counted per organisation and rule, without its content (API.md): that row is expected.
COUNTED_REJECTIONS = {"rejected_submission", "rejected_rule"}
REFUSAL_CODES = {"extra_forbidden", "unknown_field", "role_not_staff"}
SOMEONE = str(uuid.uuid4())
WHEN = "2026-01-01T09:00:00+00:00"


@dataclass(frozen=True)
class Write:
    """Who may call the route, on which record in which state, its success status, and fields smuggled into it."""

    caller: str
    kind: str | None
    variant: str
    state: str
    success: int
    smuggled: dict[str, Any]


REFERRAL_STATE = {"/status": "decided", "/assigned_to": SOMEONE, "/referral_id": SOMEONE, "/id": SOMEONE}

WRITES: dict[tuple[str, str], Write] = {
    ("POST", "/v1/referrals"): Write("partner_a", None, "", "", 201, {
        "/id": SOMEONE, "/reference": "MASH-2026-999999", "/status": "decided", "/received_at": WHEN,
        "/decision_due_at": WHEN, "/organisation_id": SOMEONE, "/organisation": "Another agency",
        "/agency": "health", "/rag": "green", "/level": 1, "/pathway": "universal_services",
        "/triage": {"rag": "green"}, "/assigned_to": SOMEONE, "/created_by": SOMEONE,
        "/feedback_url": "https://attacker.example.org/", "/referrer/organisation_id": SOMEONE,
        "/children/0/id": SOMEONE, "/children/0/rag": "green", "/children/0/level": 1,
        "/children/0/outcome": "no_further_action", "/children/0/referral_id": SOMEONE,
    }),
    ("POST", "/v1/referrals/{referral_id}/claim"): Write("practitioner", "referral", "a", "received", 200, {
        "/assigned_to": SOMEONE, "/holder": SOMEONE, "/claimed_by": SOMEONE, "/claimed_at": WHEN,
        "/status": "decided",
    }),
    ("POST", "/v1/referrals/{referral_id}/release"): Write("practitioner", "referral", "a", "held", 200, {
        "/assigned_to": SOMEONE, "/status": "received",
    }),
    ("POST", "/v1/referrals/{referral_id}/information-requests"): Write(
        "practitioner", "referral", "a", "received", 201, {
            **REFERRAL_STATE, "/status": "answered", "/asked_by": SOMEONE, "/asked_at": WHEN,
            "/response": "Answered already.", "/answered_at": WHEN,
        },
    ),
    ("POST", "/v1/referrals/{referral_id}/decision"): Write("practitioner", "referral", "a", "held", 201, {
        **REFERRAL_STATE, "/state": "approved", "/decided_by": SOMEONE, "/decided_at": WHEN, "/step_down": False,
        "/reviewed_by": SOMEONE, "/outcomes/0/step_down": False, "/outcomes/0/recommended": "no_further_action",
    }),
    ("POST", "/v1/referrals/{referral_id}/approve"): Write("manager", "referral", "a", "awaiting_approval", 200, {
        "/reviewed_by": SOMEONE, "/state": "approved", "/status": "decided",
    }),
    ("POST", "/v1/referrals/{referral_id}/return"): Write("manager", "referral", "a", "awaiting_approval", 200, {
        "/reviewed_by": SOMEONE, "/state": "final", "/status": "decided", "/decided_by": SOMEONE,
    }),
    ("POST", "/v1/referrals/{referral_id}/close"): Write("practitioner", "referral", "a", "decided", 200, {
        "/status": "closed", "/closed_at": WHEN,
    }),
    ("POST", "/v1/referrals/{referral_id}/strategy-discussion"): Write(
        "practitioner", "referral", "a", "received", 201, {
            "/id": SOMEONE, "/referral_id": SOMEONE, "/recorded_by": SOMEONE, "/recorded_at": WHEN,
            "/participants/0/id": SOMEONE,
        },
    ),
    ("POST", "/v1/information-requests/{request_id}/response"): Write(
        "partner_a", "information_request", "a", "open", 200, {
            "/status": "answered", "/answered_at": WHEN, "/answered_by_key": SOMEONE, "/organisation_id": SOMEONE,
            "/referral_id": SOMEONE, "/question": "Another question",
        },
    ),
    ("POST", "/v1/webhooks"): Write("partner_a", None, "", "", 201, {
        "/id": SOMEONE, "/organisation_id": SOMEONE, "/secret": "whsec_chosen", "/created_at": WHEN,
        "/disabled_at": WHEN,
    }),
    ("DELETE", "/v1/webhooks/{webhook_id}"): Write("partner_a", "webhook", "a", "live", 204, {
        "/organisation_id": SOMEONE,
    }),
    ("POST", "/v1/admin/organisations"): Write("admin", None, "", "", 201, {
        "/id": SOMEONE, "/created_at": WHEN, "/api_key": "fdk_chosen", "/role": "admin",
    }),
    ("POST", "/v1/admin/organisations/{organisation_id}/keys"): Write(
        "admin", "organisation", "a", "registered", 201, {
            "/role": "admin", "/organisation_id": SOMEONE, "/user_id": SOMEONE, "/expires_at": WHEN,
            "/api_key": "fdk_chosen",
        },
    ),
    ("POST", "/v1/admin/organisations/{organisation_id}/public-keys"): Write(
        "admin", "organisation", "a", "registered", 201, {
            "/id": SOMEONE, "/organisation_id": SOMEONE, "/revoked_at": WHEN, "/created_at": WHEN,
        },
    ),
    ("POST", "/v1/admin/users"): Write("admin", None, "", "", 201, {
        "/role": "referrer", "/id": SOMEONE, "/organisation_id": SOMEONE, "/api_key": "fdk_chosen",
        "/key_id": SOMEONE, "/password_hash": "$argon2id$chosen", "/disabled_at": WHEN,
    }),
    ("PUT", "/v1/admin/users/{user_id}/password"): Write("admin", "staff_user", "staff", "active", 204, {
        "/password_hash": "$argon2id$chosen", "/role": "admin", "/email": "someone@example.org",
    }),
    ("DELETE", "/v1/admin/keys/{key_id}"): Write("admin", "api_key", "a", "live", 204, {
        "/revoked_at": WHEN, "/role": "admin",
    }),
    ("POST", "/v1/rules"): Write("manager", None, "", "", 201, {
        "/version": 99, "/active": False, "/created_by": SOMEONE, "/activated_at": WHEN, "/id": SOMEONE,
    }),
    ("POST", "/v1/rules/validate"): Write("manager", None, "", "", 200, {"/version": 99, "/active": True}),
}  # fmt: skip

# Writes that are not JSON: the OAuth token endpoint takes a form, and RFC 6749 (section 3.2) has the server ignore
# parameters it does not recognise; nothing in it names a record or a role (tests/api/test_client_assertion.py).
NOT_JSON = {("POST", "/oauth2/token")}


def test_every_write_route_is_in_the_table(app: Any) -> None:
    writes = {key for key in api_routes(app) if key[0] in WRITING_METHODS}
    assert sorted(writes - set(WRITES) - NOT_JSON) == [], "add these write routes to WRITES"
    assert sorted(set(WRITES) - writes) == [], "these WRITES entries name no route"


@pytest.fixture
def world(
    client: TestClient, engine: sa.Engine, make_org: Callable[..., Actor], make_user: Callable[..., Actor]
) -> World:
    return World(client, engine, make_org, make_user)


def place(body: dict[str, Any], pointer: str, value: Any) -> dict[str, Any]:
    """BODY with VALUE set at the JSON pointer (its parents exist)."""
    *parents, last = pointer.lstrip("/").split("/")
    node: Any = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[last] = value
    return body


@pytest.mark.parametrize("route", sorted(WRITES), ids=lambda r: f"{r[0]} {r[1]}")
def test_fields_a_caller_may_not_set_are_refused_and_change_nothing(route: tuple[str, str], world: World) -> None:
    spec = WRITES[route]
    actor = world.actors[spec.caller]
    target: Target | None = world.make(spec.kind, spec.variant, spec.state, actor) if spec.kind else None
    failures = []
    before = snapshot(world.engine)
    for pointer, value in spec.smuggled.items():
        body = place(request_body(world, route, target) or {}, pointer, value)
        response = call(world, route, spec.caller, target, body)
        after = snapshot(world.engine)
        changed = [name for name in changed_tables(before, after) if name not in COUNTED_REJECTIONS]
        before = after
        label = f"{pointer}={value!r}"
        if response.status_code != 422 or response.headers["content-type"] != "application/problem+json":
            failures.append(f"{label}: {response.status_code} {response.text[:300]}")
        else:
            named = [e for e in response.json()["errors"] if e["pointer"] == pointer]
            if not named or named[0]["code"] not in REFUSAL_CODES or not named[0]["message"]:
                failures.append(f"{label}: the refusal does not point at the field: {response.text[:300]}")
        if changed:
            failures.append(f"{label}: refused, yet {changed} changed")
    assert not failures, "\n".join(failures)
    # The same call without the smuggled field succeeds: the field alone was refused.
    control = call(world, route, spec.caller, target)
    assert control.status_code == spec.success, control.text
