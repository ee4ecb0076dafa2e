"""Helpers for the object-level tests: real records of each kind owned by two organisations, built through the API,
and a snapshot of the database to prove a refused call changed nothing."""

from __future__ import annotations

import copy
import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import SQLModel

from schemas.enums import Role
from schemas.tables import Child, Referral
from tests.api.feedback_support import settle
from tests.api.matrix.objects import VARIANTS
from tests.api.workflow_support import body as referral_body
from tests.api.workflow_support import claim
from tests.conftest import Actor

# Tables a refused call may still touch: the per-key rate limiter counts every call, refused or not.
UNWATCHED_TABLES = frozenset({"rate_limit_window"})
CALLERS = ("partner_a", "partner_b", "practitioner", "manager", "admin")
FEEDBACK_TEXT = "A social worker will contact the family this week."
RATIONALE = "In line with the threshold rating, after reading the referral."
OVERRIDE = "Police confirm the father has left the home and bail conditions keep him away."
STRATEGY: dict[str, Any] = {
    "participants": [
        {"agency": "local_authority", "name": "Sam Social Worker"},
        {"agency": "police", "name": "DC Example"},
        {"agency": "health", "name": "Named Nurse Example"},
    ],
    "safety_plan": "Father to stay with his brother and have no unsupervised contact until the conference.",
    "actions": ["Section 47 enquiry to begin today"],
}


@dataclass
class Target:
    """A record a call names: its id, the partner organisation owning it ("a", "b" or None), what it must not leak."""

    id: str
    owner: str | None
    secrets: tuple[str, ...] = ()
    # For a referral: each child's id and the pathway the rules recommend for them.
    children: list[tuple[str, str]] = field(default_factory=list)
    exists: bool = True


def missing() -> Target:
    """An id that names nothing."""
    return Target(id=str(uuid.uuid4()), owner=None, children=[(str(uuid.uuid4()), "early_help")], exists=False)


def public_pem() -> str:
    """A fresh EC public key in PEM, as a partner registers for signed-JWT authentication."""
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


class World:
    """Two partner organisations (a: police, b: health), a member of staff of each role, and a helper practitioner
    who prepares records (holding, deciding) so the caller under test acts on someone else's work."""

    def __init__(
        self,
        client: TestClient,
        engine: sa.Engine,
        make_org: Callable[..., Actor],
        make_user: Callable[..., Actor],
    ) -> None:
        self.client = client
        self.engine = engine
        self._make_user = make_user
        self.partners = {"a": make_org("police"), "b": make_org("health")}
        self.actors: dict[str, Actor] = {
            "partner_a": self.partners["a"],
            "partner_b": self.partners["b"],
            "practitioner": make_user(Role.practitioner),
            "manager": make_user(Role.manager),
            "admin": make_user(Role.admin),
        }
        self.helper = make_user(Role.practitioner)

    def organisation_of(self, caller: str) -> str | None:
        """Which partner organisation CALLER is ("a" or "b"), None for staff."""
        return {"partner_a": "a", "partner_b": "b"}.get(caller)

    def make(self, kind: str, variant: str, state: str, actor: Actor | None = None) -> Target:
        """A new record of KIND (its VARIANT says who owns it) in STATE; ACTOR is the caller about to act on it."""
        owner = VARIANTS[kind][variant]
        if kind == "referral":
            assert owner is not None
            return self.referral(owner, state, actor)
        if kind == "child":
            assert owner is not None
            referral = self.referral(owner, "received")
            child_id, _pathway = referral.children[0]
            return Target(id=child_id, owner=owner, secrets=referral.secrets)
        if kind == "information_request":
            assert owner is not None
            return self.information_request(addressed_to=owner, about="b" if variant == "a_about_b" else owner)
        if kind == "webhook":
            assert owner is not None
            url = f"https://{uuid.uuid4().hex[:12]}.example.org/hooks"
            made = self.client.post("/v1/webhooks", json={"url": url}, headers=self.partners[owner].headers)
            assert made.status_code == 201, made.text
            return Target(id=made.json()["id"], owner=owner, secrets=(url, made.json()["secret"]))
        if kind == "organisation":
            assert owner is not None
            return Target(id=str(self.partners[owner].id), owner=owner)
        if kind == "api_key":
            if owner is None:
                return Target(id=str(self._make_user(Role.practitioner).key_id), owner=None)
            issued = self.client.post(
                f"/v1/admin/organisations/{self.partners[owner].id}/keys", headers=self.actors["admin"].headers
            )
            assert issued.status_code == 201, issued.text
            return Target(id=issued.json()["id"], owner=owner, secrets=(issued.json()["api_key"],))
        if kind == "staff_user":
            return Target(id=str(self._make_user(Role.practitioner).id), owner=None)
        raise AssertionError(f"no builder for {kind}")

    def referral(self, owner: str, state: str, actor: Actor | None = None) -> Target:
        """A referral from OWNER: received, held (by ACTOR when staff, else the helper), awaiting approval of a red
        step-down the helper decided, or decided by the helper as the rules recommend."""
        org = self.partners[owner]
        sent = referral_body("red" if state == "awaiting_approval" else "amber", agency=org.agency or "police")
        made = self.client.post("/v1/referrals", json=sent, headers=org.headers)
        assert made.status_code == 201, made.text
        referral_id = made.json()["id"]
        target = Target(
            id=referral_id,
            owner=owner,
            secrets=(
                made.json()["reference"],
                *(child["last_name"] for child in sent["children"]),
                *(child["nhs_number"] for child in sent["children"]),
            ),
            children=self.children(referral_id),
        )
        staff_actor = actor if actor is not None and actor.role != Role.referrer else None
        if state == "held":
            claim(self.client, staff_actor or self.helper, referral_id)
        elif state == "awaiting_approval":
            claim(self.client, self.helper, referral_id)
            stepped = self.decision(target, outcome="early_help", override_reason=OVERRIDE)
            assert self._decide(self.helper, referral_id, stepped).status_code == 201
        elif state == "decided":
            claim(self.client, self.helper, referral_id)
            assert self._decide(self.helper, referral_id, self.decision(target)).status_code == 201
        else:
            assert state == "received", state
        settle(self.engine)
        return target

    def information_request(self, *, addressed_to: str, about: str, referral: Target | None = None) -> Target:
        """An open question from the helper to ADDRESSED_TO about REFERRAL (by default a new one ABOUT sent)."""
        referral = referral or self.referral(about, "received")
        question = f"Question {uuid.uuid4().hex[:8]}: were the children seen by your service this year?"
        asked = self.client.post(
            f"/v1/referrals/{referral.id}/information-requests",
            json={"organisation_id": str(self.partners[addressed_to].id), "question": question},
            headers=self.helper.headers,
        )
        assert asked.status_code == 201, asked.text
        return Target(id=asked.json()["id"], owner=addressed_to, secrets=(question, *referral.secrets))

    def children(self, referral_id: str) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(Child.id, Child.pathway)
                .where(Child.referral_id == uuid.UUID(referral_id))
                .order_by(Child.position)
            ).all()
        return [(str(row.id), row.pathway) for row in rows]

    def decision(self, target: Target, *, outcome: str | None = None, **extra: Any) -> dict[str, Any]:
        """A decision body: every child the rules' recommendation (or OUTCOME), with a rationale."""
        return {
            "outcomes": [
                {"child_id": child_id, "outcome": outcome or pathway, "rationale": RATIONALE, **extra}
                for child_id, pathway in target.children
            ],
            "feedback": FEEDBACK_TEXT,
        }

    def _decide(self, actor: Actor, referral_id: str, decision: dict[str, Any]) -> Any:
        return self.client.post(f"/v1/referrals/{referral_id}/decision", json=decision, headers=actor.headers)

    def strategy(self) -> dict[str, Any]:
        return {"held_at": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat(), **copy.deepcopy(STRATEGY)}

    def referral_row(self, referral_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(Referral).where(Referral.id == uuid.UUID(referral_id))).one()
        return dict(row._mapping)


def request_body(world: World, route: tuple[str, str], target: Target | None = None) -> dict[str, Any] | None:
    """A body that succeeds for a caller entitled to ROUTE on TARGET, so a refusal can only come from something else."""
    path = route[1]
    target = target or missing()
    if route == ("POST", "/v1/referrals"):
        return referral_body("amber")
    if route == ("POST", "/v1/webhooks"):
        return {"url": f"https://{uuid.uuid4().hex[:12]}.example.org/hooks", "events": ["decision_made"]}
    if route == ("POST", "/v1/admin/organisations"):
        return {"name": f"Surgery {uuid.uuid4().hex[:6]}", "agency": "gp"}
    if route == ("POST", "/v1/admin/users"):
        return {"name": "Sam Social Worker", "email": f"{uuid.uuid4().hex[:10]}@example.org", "role": "practitioner"}
    if path in ("/v1/rules", "/v1/rules/validate"):
        active = world.client.get("/v1/rules", headers=world.actors["manager"].headers)
        assert active.status_code == 200, active.text
        return {"source": active.json()["source"]}
    if path.endswith("/decision"):
        return world.decision(target)
    if path.endswith("/information-requests"):
        addressed = world.partners[target.owner or "a"].id
        return {"organisation_id": str(addressed), "question": "Were the children seen at the surgery this year?"}
    if path.endswith("/return"):
        return {"comment": "Check the school's attendance data before stepping down."}
    if path.endswith("/strategy-discussion"):
        return world.strategy()
    if path.endswith("/response"):
        return {"response": "Registered since 2019; both children were last seen in March."}
    if path.endswith("/password"):
        return {"password": "correct horse battery staple"}
    if path.endswith("/public-keys"):
        return {"kid": f"k-{uuid.uuid4().hex[:8]}", "pem": public_pem()}
    return None


def call(world: World, route: tuple[str, str], caller: str, target: Target | None = None, body: Any = None) -> Any:
    """Call ROUTE as CALLER on TARGET with BODY (by default one that would succeed)."""
    method, path = route
    url = re.sub(r"\{[^}]+\}", target.id, path) if target is not None else path
    body = request_body(world, route, target) if body is None else body
    kwargs: dict[str, Any] = {"headers": world.actors[caller].headers}
    if body is not None:
        kwargs["json"] = body
    return world.client.request(method, url, **kwargs)


def api_routes(app: Any) -> dict[tuple[str, str], APIRoute]:
    """Every route in the API schema, by (method, path template)."""
    found = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema:
            for method in route.methods - {"HEAD"}:
                found[(method, context.path)] = route
    return found


def snapshot(engine: sa.Engine) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table but the rate limiter's, as text: equal snapshots mean nothing was written."""
    found = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in UNWATCHED_TABLES:
                continue
            found[table.name] = sorted(tuple(map(str, row)) for row in conn.execute(sa.select(table)))
    return found


def changed_tables(before: dict[str, list[tuple[str, ...]]], after: dict[str, list[tuple[str, ...]]]) -> list[str]:
    return sorted(name for name in before if before[name] != after[name])
