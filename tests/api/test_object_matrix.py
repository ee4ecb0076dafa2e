"""Object-level authorisation (OWASP API1:2023): every route that names a record by id, called by each kind of caller
on records of its own organisation, of another organisation, staff records and ids that name nothing.

A caller without the role gets 403 whatever the id; a partner gets 404 for anything outside its organisation, exactly
as for an id that names nothing; staff reach every referral. A refused call writes nothing (not even an audit row),
and its answer carries nothing of the record it named.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.enums import Role
from schemas.tables import ApiKey, InformationRequest, StaffUser, WebhookSubscription
from tests.api.feedback_support import settle
from tests.api.matrix import MATRIX
from tests.api.matrix.objects import ID_QUERIES, OBJECT_ROUTES, VARIANTS, ObjectRoute
from tests.api.records_support import (
    CALLERS,
    Target,
    World,
    api_routes,
    call,
    changed_tables,
    missing,
    snapshot,
)
from tests.conftest import Actor

STAFF_ONLY_FIELDS = {"triage", "rag", "level", "pathway", "assigned_to", "audit_trail", "decisions",
                     "information_requests", "strategy_discussions", "organisation_id", "status_times"}  # fmt: skip


def query_parameters(dependant: Any) -> set[str]:
    """The query parameters of a route, its dependencies' included."""
    names = {param.alias for param in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= query_parameters(dependency)
    return names


def test_every_route_naming_a_record_is_in_the_object_matrix(app: Any) -> None:
    routes = api_routes(app)
    by_path = {key for key in routes if "{" in key[1]}
    assert sorted(by_path - set(OBJECT_ROUTES)) == [], "add these routes to tests/api/matrix/objects.py"
    assert sorted(set(OBJECT_ROUTES) - by_path) == [], "these object matrix entries name no route"
    by_query = {
        key: frozenset(n for n in query_parameters(route.dependant) if n.endswith("_id"))
        for key, route in routes.items()
    }
    assert {key: names for key, names in by_query.items() if names} == ID_QUERIES


@pytest.fixture
def world(
    client: TestClient, engine: sa.Engine, make_org: Callable[..., Actor], make_user: Callable[..., Actor]
) -> World:
    return World(client, engine, make_org, make_user)


def expected(world: World, route: tuple[str, str], caller: str, target: Target) -> int:
    """The status CALLER gets for ROUTE on TARGET: the role matrix first, then ownership."""
    roles = MATRIX[route]
    assert isinstance(roles, frozenset)
    if world.actors[caller].role not in roles:
        return 403
    if not target.exists:
        return 404
    mine = world.organisation_of(caller)
    if mine is not None and target.owner != mine:
        return 404
    return OBJECT_ROUTES[route].success


def comparable(response: Any) -> tuple[int, str, Any]:
    """A refusal as the caller sees it, less the echo of the address it asked for."""
    body = response.json() if response.content else None
    if isinstance(body, dict):
        body = {key: value for key, value in body.items() if key != "instance"}
    return response.status_code, response.headers.get("content-type", ""), body


def effect(world: World, route: tuple[str, str], caller: str, target: Target, response: Any) -> str | None:
    """What an entitled call must have done to the record it named (None when it did)."""
    actor = world.actors[caller]
    method, path = route
    body = response.json() if response.content else None
    if route == ("GET", "/v1/referrals/{referral_id}"):
        if body["id"] != target.id:
            return "another referral was read"
        leaked = STAFF_ONLY_FIELDS & set(body) if actor.role == Role.referrer else set()
        return f"a partner sees staff fields {sorted(leaked)}" if leaked else None
    if path.endswith("/feedback"):
        ok = body["referral_id"] == target.id and [i["event"] for i in body["items"]][:1] == ["acknowledged"]
        return None if ok else "the referral's feedback was not read"
    if path.startswith("/v1/referrals/") and method == "POST":
        row = world.referral_row(target.id)
        action = path.rsplit("/", 1)[1]
        if action == "strategy-discussion":
            outcome = body["referral_id"] == target.id
        elif action == "claim":
            outcome = row["assigned_to"] == actor.id
        elif action == "release":
            outcome = row["assigned_to"] is None
        else:
            outcome = (
                row["status"]
                == {
                    "information-requests": "awaiting_information",
                    "decision": "decided",
                    "approve": "decided",
                    "return": "in_triage",
                    "close": "closed",
                }[action]
            )
        return None if outcome else f"the referral was not changed as asked: {row['status']}, {row['assigned_to']}"
    if path.endswith("/history"):
        return None if body["child"]["id"] == target.id else "another child's history was read"
    with world.engine.connect() as conn:
        if path.endswith("/response"):
            status = conn.execute(
                sa.select(InformationRequest.status).where(InformationRequest.id == uuid.UUID(target.id))
            ).scalar_one()
            return None if status == "answered" else "the request was not answered"
        if path.startswith("/v1/webhooks/"):
            left = conn.execute(
                sa.select(WebhookSubscription.id).where(WebhookSubscription.id == uuid.UUID(target.id))
            ).all()
            return None if not left else "the subscription is still there"
        if path.endswith("/keys"):
            owner = conn.execute(sa.select(ApiKey.organisation_id).where(ApiKey.id == uuid.UUID(body["id"])))
            return None if str(owner.scalar_one()) == target.id else "the key went to another organisation"
        if path.endswith("/public-keys"):
            return None if body["organisation_id"] == target.id else "the public key went to another organisation"
        if path.endswith("/password"):
            hashed = conn.execute(
                sa.select(StaffUser.password_hash).where(StaffUser.id == uuid.UUID(target.id))
            ).scalar_one()
            return None if hashed else "no password was set"
        if path.startswith("/v1/admin/keys/"):
            revoked = conn.execute(sa.select(ApiKey.revoked_at).where(ApiKey.id == uuid.UUID(target.id))).scalar_one()
            return None if revoked is not None else "the key was not revoked"
    raise AssertionError(f"no effect check for {route}")


@pytest.mark.parametrize("route", sorted(OBJECT_ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
def test_each_caller_reaches_only_the_records_it_may(route: tuple[str, str], world: World) -> None:
    spec: ObjectRoute = OBJECT_ROUTES[route]
    failures: list[str] = []
    checks = 0
    # Refusals first, on one record per variant, each in the state in which an entitled caller would succeed.
    shared = {variant: world.make(spec.kind, variant, spec.state) for variant in VARIANTS[spec.kind]}
    settle(world.engine)
    # Refused calls write nothing, so each call's "after" is the next one's "before".
    before = snapshot(world.engine)
    for caller in CALLERS:
        nothing = missing()
        absent = call(world, route, caller, nothing)
        checks += 1
        if absent.status_code != expected(world, route, caller, nothing):
            failures.append(f"{caller} on an id naming nothing: {absent.status_code} {absent.text[:200]}")
        after = snapshot(world.engine)
        if changed := changed_tables(before, after):
            failures.append(f"{caller} on an id naming nothing changed {changed}")
        before = after
        for variant, target in shared.items():
            want = expected(world, route, caller, target)
            if want == spec.success:
                continue
            checks += 1
            response = call(world, route, caller, target)
            label = f"{caller} on {spec.kind} {variant}"
            if response.status_code != want:
                failures.append(f"{label}: {response.status_code} != {want}: {response.text[:200]}")
            after = snapshot(world.engine)
            if changed := changed_tables(before, after):
                failures.append(f"{label}: refused, yet {changed} changed")
            before = after
            if comparable(response) != comparable(absent):
                failures.append(f"{label}: the refusal differs from an id naming nothing: {response.text[:300]}")
            if leaked := [secret for secret in target.secrets if secret in response.text]:
                failures.append(f"{label}: the refusal shows {leaked}")
    # Then every entitled caller on a fresh record of each variant.
    for caller in CALLERS:
        actor = world.actors[caller]
        for variant in VARIANTS[spec.kind]:
            probe = Target(id="", owner=VARIANTS[spec.kind][variant])
            if expected(world, route, caller, probe) != spec.success:
                continue
            checks += 1
            target = world.make(spec.kind, variant, spec.state, actor)
            response = call(world, route, caller, target)
            label = f"{caller} on {spec.kind} {variant}"
            if response.status_code != spec.success:
                failures.append(f"{label}: {response.status_code} != {spec.success}: {response.text[:300]}")
            elif problem := effect(world, route, caller, target, response):
                failures.append(f"{label}: {problem}")
    assert not failures, "\n".join(failures)
    # Every caller was tried on an id naming nothing and on every variant.
    assert checks == len(CALLERS) * (1 + len(VARIANTS[spec.kind]))


def test_list_filters_keep_a_partner_to_its_own_records(world: World) -> None:
    """Ids in a query string narrow what a partner sees; another organisation's ids find nothing of theirs."""
    a, b = world.partners["a"], world.partners["b"]
    own = world.referral("a", "received")
    theirs = world.referral("b", "received")
    asked_a = world.information_request(addressed_to="a", about="a", referral=own)
    asked_b = world.information_request(addressed_to="b", about="b", referral=theirs)
    asked_a_about_b = world.information_request(addressed_to="a", about="b", referral=theirs)
    hook_a, hook_b = world.make("webhook", "a", "live"), world.make("webhook", "b", "live")
    settle(world.engine)

    def get(path: str, actor: Actor = a, **params: Any) -> Any:
        response = world.client.get(path, params={"limit": 200, **params}, headers=actor.headers)
        assert response.status_code == 200, response.text
        return response.json()

    listed = get("/v1/referrals")
    assert {item["id"] for item in listed["items"]} == {own.id}
    feed = get("/v1/feedback")
    assert {item["referral_id"] for item in feed["items"]} == {own.id}
    requests = get("/v1/information-requests")
    assert {item["id"] for item in requests["items"]} == {asked_a.id, asked_a_about_b.id}
    # About B's referral, A sees the question addressed to A and nothing else: not B's own question.
    about_theirs = get("/v1/information-requests", referral_id=theirs.id)
    assert [item["id"] for item in about_theirs["items"]] == [asked_a_about_b.id]
    addressed_to_b = get("/v1/information-requests", organisation_id=str(b.id))
    assert addressed_to_b["items"] == []
    hooks = get("/v1/webhooks")
    assert [item["id"] for item in hooks["items"]] == [hook_a.id]
    # The question addressed to A names B's referral and children (A must know whom it is about); nothing else does.
    seen = " ".join(map(str, (listed, feed, addressed_to_b, hooks)))
    for secret in (*theirs.secrets, *hook_b.secrets):
        assert secret not in seen
    question_to_b = asked_b.secrets[0]
    assert question_to_b not in str(requests) and question_to_b not in str(about_theirs)
    # Staff reach every organisation's records through the same filters.
    staff = world.actors["practitioner"]
    to_b = get("/v1/information-requests", staff, organisation_id=str(b.id))
    assert [item["id"] for item in to_b["items"]] == [asked_b.id]
    assert {item["id"] for item in get("/v1/referrals", staff)["items"]} >= {own.id, theirs.id}


def test_a_child_named_in_a_decision_must_belong_to_the_referral_decided(world: World) -> None:
    """An id in a body is checked against the record in the path: another referral's child is refused, not decided."""
    practitioner = world.actors["practitioner"]
    held = world.referral("a", "held", practitioner)
    other = world.referral("b", "received")
    decision = world.decision(held)
    decision["outcomes"][0]["child_id"] = other.children[0][0]
    before = snapshot(world.engine)
    response = call(world, ("POST", "/v1/referrals/{referral_id}/decision"), "practitioner", held, decision)
    assert response.status_code == 422, response.text
    assert {e["pointer"] for e in response.json()["errors"]} >= {"/outcomes/0/child_id"}
    assert changed_tables(before, snapshot(world.engine)) == []
    assert world.referral_row(held.id)["status"] == "in_triage"
    assert world.referral_row(other.id)["status"] == "received"
