"""The API against its own OpenAPI document (Schemathesis): every operation, called by each role the access
matrix lets through, must answer only documented status codes, content types, headers and bodies, refuse
what the document says is invalid, accept what it says is valid, and refuse a missing or made-up key."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from schemas.enums import Role
from schemas.tables import FeedbackEvent
from tests.api.matrix import MATRIX, PUBLIC
from tests.api.workflow_support import body, refer, staff_view
from tests.conftest import Actor
from triage import feed

MAX_EXAMPLES = 12
CONFIG = schemathesis.Config.from_dict(
    {
        # Derandomised and seeded: CI sees the same cases on every run; nothing is written to .hypothesis/.
        "seed": 20261129,
        # No NUL characters in generated text: the document states once, in prose, that text may not hold one
        # (JSON Schema could only say it with a pattern on every string); the pinned tests below check the 422.
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
            "allow-x00": False,
        },
    }
)
# The document FastAPI serves at /openapi.json, built without starting the application: its start-up seeds the
# rule set into whatever database DATABASE_URL names, and at import time that is no test's database.
schema = schemathesis.openapi.from_dict(create_app().openapi(), config=CONFIG)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
]
# positive_data_acceptance says a request the document calls valid must not get 400 or 422. These operations
# answer 422 to schema-valid bodies by design, for rules no JSON Schema can state: the intake rules of API.md
# (the child's voice, NHS check digits, consent, agency details that depend on the caller's organisation),
# ids in the body that must name existing records of this referral, a decision's step-down and a strategy
# discussion's required agencies, a rule set that must compile and pass its own examples, a key that must
# parse as a public key, a report period whose start must come before its end. Every other check still runs.
SEMANTIC_422 = {
    ("GET", "/v1/reports/summary"),
    ("GET", "/v1/reports/cin-referrals"),
    ("POST", "/v1/referrals"),
    ("POST", "/v1/referrals/{referral_id}/information-requests"),
    ("POST", "/v1/referrals/{referral_id}/decision"),
    ("POST", "/v1/referrals/{referral_id}/strategy-discussion"),
    ("POST", "/v1/rules"),
    ("POST", "/v1/admin/organisations/{organisation_id}/public-keys"),
}
# A rule set sent as YAML is text on the wire whatever Schemathesis generated (an object arrives as YAML text),
# and checking any text is what /v1/rules/validate is for: it answers 200 with the problems, by design.
YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"}
# Opaque cursors: the document can say what one looks like, not which ones this service issued (as with ids,
# where an unknown one gets 404, which the check accepts). A made-up cursor gets 422 by design.
CURSORS = {("GET", "/v1/feedback"): "after", ("GET", "/v1/queue"): "cursor",
           ("GET", "/v1/information-requests"): "cursor", ("GET", "/v1/referrals"): "cursor"}  # fmt: skip


@dataclass
class World:
    """Callers of every role, and real records for the ids and cursors of the generated requests."""

    actors: dict[Role, Actor]
    ids: dict[str, str]
    cursors: dict[tuple[str, str], str]
    turns: Iterator[int] = field(default_factory=itertools.count)


def _next_cursor(client: TestClient, actor: Actor, path: str, **params: Any) -> str:
    response = client.get(path, params={"limit": 1, **params}, headers=actor.headers)
    assert response.status_code == 200, response.text
    cursor = response.json()["next_cursor"]
    assert cursor, f"{path} gave no next_cursor"
    return str(cursor)


def _first_event_cursor(engine: sa.Engine) -> str:
    # Read from the table rather than polled: on PostgreSQL the feed holds events back while any older
    # transaction in the (shared) cluster runs, and the cursor is all that is needed here.
    with engine.connect() as conn:
        tx_id, event_id = conn.execute(
            sa.select(FeedbackEvent.tx_id, FeedbackEvent.id).order_by(FeedbackEvent.id).limit(1)
        ).one()
    return feed.event_cursor(tx_id=tx_id, event_id=event_id)


@pytest.fixture
def world(
    client: TestClient, engine: sa.Engine, make_org: Callable[..., Actor], make_user: Callable[..., Actor]
) -> World:
    police = make_org("police")
    actors = {
        Role.referrer: police,
        Role.practitioner: make_user(Role.practitioner),
        Role.manager: make_user(Role.manager),
        Role.admin: make_user(Role.admin),
    }
    staff, admin = actors[Role.practitioner], actors[Role.admin]
    earlier = refer(client, police, "green")
    referral = refer(client, police, "red")
    child_id = staff_view(client, staff, referral["id"])["children"][0]["id"]
    spare_key = client.post(f"/v1/admin/organisations/{police.id}/keys", headers=admin.headers)
    asked, _ = (
        client.post(
            f"/v1/referrals/{about['id']}/information-requests",
            json={"organisation_id": str(police.id), "question": "Were the children seen at home this year?"},
            headers=staff.headers,
        )
        for about in (referral, earlier)
    )
    hook = client.post(
        "/v1/webhooks",
        json={"url": "https://partner.example.org/hooks", "events": ["decision_made"]},
        headers=police.headers,
    )
    for response in (spare_key, asked, hook):
        assert response.status_code == 201, response.text
    ids = {
        "referral_id": referral["id"],
        "child_id": child_id,
        "request_id": asked.json()["id"],
        "organisation_id": str(police.id),
        "user_id": str(staff.id),
        "key_id": spare_key.json()["id"],
        "webhook_id": hook.json()["id"],
    }
    cursors = {
        ("GET", "/v1/feedback"): _first_event_cursor(engine),
        ("GET", "/v1/queue"): _next_cursor(client, staff, "/v1/queue"),
        ("GET", "/v1/information-requests"): _next_cursor(client, staff, "/v1/information-requests"),
        ("GET", "/v1/referrals"): _next_cursor(client, staff, "/v1/referrals"),
    }
    return World(actors=actors, ids=ids, cursors=cursors)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _use_real_ids(case: schemathesis.Case, world: World, turn: int) -> None:
    """Two calls in three name real records, so the handlers get past their 404s; the third keeps the made-up id."""
    if turn % 3 == 2:
        return
    for name, value in list((case.path_parameters or {}).items()):
        if name in world.ids and _is_uuid(value):
            case.path_parameters[name] = world.ids[name]
    body = case.body if isinstance(case.body, dict) else {}
    if _is_uuid(body.get("organisation_id")):
        body["organisation_id"] = world.ids["organisation_id"]
    for outcome in body.get("outcomes") or []:
        if isinstance(outcome, dict) and _is_uuid(outcome.get("child_id")):
            outcome["child_id"] = world.ids["child_id"]


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_operation_conforms_to_the_schema(case: schemathesis.Case, app: Any, world: World) -> None:
    # One database per operation, shared by its examples: what one example changes (a claim, a decision,
    # a revoked key) is the state the next one meets, as it would be in service.
    turn = next(world.turns)
    operation = (case.operation.method.upper(), case.operation.path)
    allowed = MATRIX[operation]
    headers = {}
    if allowed != PUBLIC:
        roles = sorted(allowed)
        headers = world.actors[roles[turn % len(roles)]].headers
    _use_real_ids(case, world, turn)
    checks = list(CHECKS)
    if operation in SEMANTIC_422:
        checks.remove(positive_data_acceptance)
    if operation == ("POST", "/v1/rules/validate") and case.media_type in YAML_TYPES:
        checks.remove(negative_data_rejection)
    cursor = CURSORS.get(operation)
    if cursor and (case.query or {}).get(cursor) is not None:
        if turn % 3 == 2:
            if positive_data_acceptance in checks:
                checks.remove(positive_data_acceptance)
        else:
            case.query[cursor] = world.cursors[operation]
    # The probes ignored_auth sends (no key, a made-up key) go through the schema's transport: this test's app.
    case.operation.schema.app = app
    case.call_and_validate(app=app, headers=headers, checks=checks)


# Findings of the run above, pinned as plain tests so they stay fixed whatever the generator draws next.


@pytest.mark.parametrize(
    ("path", "sent", "pointer"),
    [
        ("/v1/admin/users", {"name": "Sam\x00", "email": "sam@example.org", "role": "practitioner"}, "/name"),
        ("/v1/admin/organisations", {"name": "Police\x00", "agency": "police"}, "/name"),
    ],
)
def test_text_with_a_nul_character_is_refused_where_it_is(
    client: TestClient, admin_user: Actor, path: str, sent: dict[str, Any], pointer: str
) -> None:
    response = client.post(path, json=sent, headers=admin_user.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [(e["pointer"], e["code"]) for e in response.json()["errors"]] == [(pointer, "text_nul")]


def test_a_referral_with_a_nul_character_is_refused_not_half_stored(client: TestClient, police: Actor) -> None:
    sent = body()
    sent["concerns"]["summary"] = "Police called to the family home\x00"
    response = client.post("/v1/referrals", json=sent, headers=police.headers)
    assert response.status_code == 422, response.text
    assert "/concerns/summary" in [e["pointer"] for e in response.json()["errors"]]
    assert client.get("/v1/referrals", headers=police.headers).json()["items"] == []


def test_a_rule_set_with_a_control_character_is_a_problem_not_a_crash(client: TestClient, manager: Actor) -> None:
    checked = client.post("/v1/rules/validate", json={"source": "\b"}, headers=manager.headers)
    assert checked.status_code == 200, checked.text
    assert checked.json()["valid"] is False
    assert "cannot be read" in checked.json()["problems"][0]["message"]
    stored = client.post("/v1/rules", json={"source": "\b"}, headers=manager.headers)
    assert stored.status_code == 422, stored.text


def test_a_staff_user_cannot_be_given_the_referrer_role(client: TestClient, admin_user: Actor) -> None:
    sent = {"name": "Sam", "email": "sam@example.org", "role": "referrer"}
    response = client.post("/v1/admin/users", json=sent, headers=admin_user.headers)
    assert response.status_code == 422, response.text
    assert [e["code"] for e in response.json()["errors"]] == ["role_not_staff"]


def test_the_schema_under_test_is_the_one_served(client: TestClient) -> None:
    assert client.get("/openapi.json").json() == schema.raw_schema


def test_a_strategy_action_due_date_must_be_a_date_not_a_number(
    client: TestClient, police: Actor, practitioner: Actor
) -> None:
    referral = refer(client, police, "red")
    sent = {
        "held_at": "2026-11-28T14:00:00+00:00",
        "participants": [
            {"agency": "local_authority", "name": "Sam Social Worker"},
            {"agency": "police", "name": "DC Example"},
            {"agency": "health", "name": "Named Nurse Example"},
        ],
        "safety_plan": "Father to stay with his brother and have no unsupervised contact until the conference.",
        "actions": [{"action": "Section 47 enquiry to begin today", "due_by": 0}],
    }
    path = f"/v1/referrals/{referral['id']}/strategy-discussion"
    response = client.post(path, json=sent, headers=practitioner.headers)
    assert response.status_code == 422, response.text
    # The pointer is into the body, not into pydantic's union of an action object and plain text.
    assert [e["pointer"] for e in response.json()["errors"]] == ["/actions/0/due_by"], response.text
    response = client.post(path, json={**sent, "actions": [7]}, headers=practitioner.headers)
    assert response.status_code == 422, response.text
    assert {e["pointer"] for e in response.json()["errors"]} == {"/actions/0"}, response.text
