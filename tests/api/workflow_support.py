"""Helpers for the workflow tests: send referrals of a chosen urgency, and read what the database recorded."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.tables import AuditEvent, FeedbackEvent, Referral
from tests.conftest import Actor
from tests.validation_cases import child, valid_referral

TODAY = dt.date.today()


def body(urgency: str = "amber", *, children: int = 1, agency: str = "police") -> dict[str, Any]:
    """A valid referral that the default rules rate red (immediate danger), amber (neglect) or green (housing)."""
    referral = valid_referral(agency, today=TODAY)
    referral["children"] = [child(today=TODAY, first_name=f"Child{i}") for i in range(children)]
    if urgency == "red":
        referral["immediate_danger"] = True
    elif urgency == "green":
        referral["concerns"]["categories"] = ["housing"]
        referral["concerns"]["indicators"] = []
    return referral


def refer(client: TestClient, org: Actor, urgency: str = "amber", **kwargs: Any) -> dict[str, Any]:
    """Send a referral and return its acknowledgement."""
    response = client.post("/v1/referrals", json=body(urgency, **kwargs), headers=org.headers)
    assert response.status_code == 201, response.text
    return response.json()


def staff_view(client: TestClient, actor: Actor, referral_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/referrals/{referral_id}", headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


def claim(client: TestClient, actor: Actor, referral_id: str) -> None:
    response = client.post(f"/v1/referrals/{referral_id}/claim", headers=actor.headers)
    assert response.status_code == 200, response.text


def outcomes_as_recommended(view: dict[str, Any]) -> list[dict[str, Any]]:
    """One outcome per child, each the rules' recommended pathway."""
    return [
        {"child_id": c["id"], "outcome": c["triage"]["pathway"], "rationale": "In line with the threshold rating."}
        for c in view["children"]
    ]


def decide(client: TestClient, actor: Actor, referral_id: str, **changes: Any) -> Any:
    """POST a decision of the recommended outcome for every child (with CHANGES to the body)."""
    view = staff_view(client, actor, referral_id)
    decision = {
        "outcomes": outcomes_as_recommended(view),
        "feedback": "A social worker will contact the family this week.",
    }
    decision.update(changes)
    return client.post(f"/v1/referrals/{referral_id}/decision", json=decision, headers=actor.headers)


def referral_row(engine: sa.Engine, referral_id: str) -> Referral:
    with sa.orm.Session(engine) as session:
        found = session.get(Referral, uuid.UUID(referral_id))
        assert found is not None
        session.expunge(found)
        return found


def set_due(engine: sa.Engine, referral_id: str, due: dt.datetime) -> None:
    """Move a referral's decision clock (to make it overdue, or due in a known order)."""
    with engine.begin() as conn:
        conn.execute(sa.update(Referral).where(Referral.id == uuid.UUID(referral_id)).values(decision_due_at=due))


def feedback_kinds(engine: sa.Engine, referral_id: str) -> list[str]:
    with engine.connect() as conn:
        stmt = (
            sa.select(FeedbackEvent.event)
            .where(FeedbackEvent.referral_id == uuid.UUID(referral_id))
            .order_by(FeedbackEvent.id)
        )
        return list(conn.execute(stmt).scalars())


def feedback_events(engine: sa.Engine, referral_id: str) -> list[Any]:
    with engine.connect() as conn:
        stmt = sa.select(FeedbackEvent).where(FeedbackEvent.referral_id == uuid.UUID(referral_id))
        return list(conn.execute(stmt.order_by(FeedbackEvent.id)).all())


def audit_actions(engine: sa.Engine, referral_id: str) -> list[tuple[str, uuid.UUID | None]]:
    """The (action, actor id) of every audit event on the referral, in order."""
    with engine.connect() as conn:
        stmt = (
            sa.select(AuditEvent.action, AuditEvent.actor_id)
            .where(AuditEvent.entity == "referral", AuditEvent.entity_id == referral_id)
            .order_by(AuditEvent.id)
        )
        return [(row.action, row.actor_id) for row in conn.execute(stmt)]
