"""Decisions: the holder decides every child; step-downs need a reason, and on a red referral a manager's approval."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.enums import Role
from schemas.tables import Child, Decision
from schemas.types import utc_now
from tests.api.workflow_support import (
    audit_actions,
    claim,
    decide,
    feedback_events,
    feedback_kinds,
    refer,
    referral_row,
    set_due,
    staff_view,
)
from tests.conftest import Actor

RATIONALE = "Rationale kept for staff only: concerns reviewed against the thresholds."
OVERRIDE = "Police confirm the father has left the home and bail conditions keep him away."


def children_rows(engine: sa.Engine, referral_id: str) -> list[Child]:
    with sa.orm.Session(engine) as session:
        rows = session.execute(
            sa.select(Child).where(Child.referral_id == uuid.UUID(referral_id)).order_by(Child.position)
        ).scalars()
        return [row for row in rows]


def decisions_of(engine: sa.Engine, referral_id: str) -> list[Decision]:
    with sa.orm.Session(engine) as session:
        stmt = sa.select(Decision).where(Decision.referral_id == uuid.UUID(referral_id)).order_by(Decision.decided_at)
        return list(session.execute(stmt).scalars())


def step_down_body(view: dict[str, Any], outcome: str = "early_help", **extra: Any) -> dict[str, Any]:
    return {
        "outcomes": [
            {"child_id": c["id"], "outcome": outcome, "rationale": RATIONALE, **extra} for c in view["children"]
        ],
        "feedback": "The family will be offered early help support.",
    }


def test_the_holder_decides_and_the_referrer_is_told_without_the_rationale(
    client: TestClient, police: Actor, practitioner: Actor, engine: sa.Engine
) -> None:
    ack = refer(client, police, "amber", children=2)
    claim(client, practitioner, ack["id"])
    view = staff_view(client, practitioner, ack["id"])
    outcomes = [
        {"child_id": view["children"][0]["id"], "outcome": "section_17_assessment", "rationale": RATIONALE},
        {"child_id": view["children"][1]["id"], "outcome": "strategy_discussion", "rationale": RATIONALE},
    ]
    feedback = "A social worker will visit the family this week to begin an assessment."
    response = client.post(
        f"/v1/referrals/{ack['id']}/decision",
        json={"outcomes": outcomes, "feedback": feedback},
        headers=practitioner.headers,
    )
    assert response.status_code == 201, response.text
    decision = response.json()
    assert decision["state"] == "final" and decision["referral_status"] == "decided"
    assert decision["decided_on_time"] is True and decision["step_down"] is False
    row = referral_row(engine, ack["id"])
    assert row.status == "decided" and row.decided is True and row.decided_at is not None
    assert row.decided_on_time is True
    assert [(c.outcome, c.step_down) for c in children_rows(engine, ack["id"])] == [
        ("section_17_assessment", False),
        ("strategy_discussion", False),
    ]
    told = feedback_events(engine, ack["id"])[-1]
    assert told.event == "decision_made" and told.message == feedback
    first = view["children"][0]
    assert told.outcomes[0] == {
        "child": f"{first['first_name']} {first['last_name'][0]}.",
        "outcome": "section_17_assessment",
        "next_steps": told.outcomes[0]["next_steps"],
    }
    assert told.outcomes[0]["next_steps"] and len(told.outcomes) == 2
    shared = json.dumps([told.message, told.outcomes])
    assert RATIONALE not in shared and first["last_name"] not in shared and "level" not in shared
    assert ("decide", practitioner.id) in audit_actions(engine, ack["id"])
    # The referrer sees the outcomes shared with it, never the rating.
    mine = client.get(f"/v1/referrals/{ack['id']}", headers=police.headers).json()
    assert mine["status"] == "decided" and mine["outcomes"] == told.outcomes


def test_only_the_holder_may_decide(
    client: TestClient, police: Actor, practitioner: Actor, make_user: Callable[..., Actor]
) -> None:
    ack = refer(client, police)
    unclaimed = decide(client, practitioner, ack["id"])
    assert unclaimed.status_code == 409 and "Claim" in unclaimed.json()["detail"]
    colleague = make_user(Role.practitioner)
    claim(client, colleague, ack["id"])
    refused = decide(client, practitioner, ack["id"])
    assert refused.status_code == 409 and refused.json()["assigned_to"] == str(colleague.id)
    assert decide(client, colleague, ack["id"]).status_code == 201
    assert decide(client, colleague, ack["id"]).status_code == 409


def test_every_child_needs_exactly_one_outcome_and_every_problem_is_named(
    client: TestClient, police: Actor, practitioner: Actor, engine: sa.Engine
) -> None:
    ack = refer(client, police, "amber", children=3)
    claim(client, practitioner, ack["id"])
    first, second, third = (c["id"] for c in staff_view(client, practitioner, ack["id"])["children"])
    stranger = str(uuid.uuid4())
    response = client.post(
        f"/v1/referrals/{ack['id']}/decision",
        json={
            "outcomes": [
                {"child_id": first, "outcome": "section_17_assessment", "rationale": RATIONALE},
                {"child_id": first, "outcome": "early_help", "rationale": RATIONALE},
                {"child_id": stranger, "outcome": "early_help", "rationale": RATIONALE},
                {"child_id": second, "outcome": "section_17_assessment", "rationale": "n/a"},
            ],
            "feedback": "  ",
        },
        headers=practitioner.headers,
    )
    assert response.status_code == 422
    errors = {(e["pointer"], e["code"]): e["message"] for e in response.json()["errors"]}
    assert set(errors) == {
        ("/outcomes/1/child_id", "child_outcome_repeated"),
        ("/outcomes/2/child_id", "child_not_in_referral"),
        ("/outcomes/3/rationale", "rationale_missing"),
        ("/outcomes", "child_outcome_missing"),
        ("/feedback", "feedback_missing"),
    }
    assert third in errors[("/outcomes", "child_outcome_missing")]
    assert first not in errors[("/outcomes", "child_outcome_missing")]
    unknown = client.post(
        f"/v1/referrals/{ack['id']}/decision",
        json={"outcomes": [{"child_id": first, "outcome": "adopt", "rationale": RATIONALE}], "feedback": "Done."},
        headers=practitioner.headers,
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["pointer"] == "/outcomes/0/outcome"
    assert referral_row(engine, ack["id"]).status == "in_triage"
    assert decisions_of(engine, ack["id"]) == []


def test_a_step_down_needs_an_override_reason(
    client: TestClient, police: Actor, practitioner: Actor, engine: sa.Engine
) -> None:
    ack = refer(client, police, "amber")
    claim(client, practitioner, ack["id"])
    view = staff_view(client, practitioner, ack["id"])
    assert view["children"][0]["triage"]["pathway"] == "section_17_assessment"
    refused = client.post(
        f"/v1/referrals/{ack['id']}/decision", json=step_down_body(view), headers=practitioner.headers
    )
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["pointer"] == "/outcomes/0/override_reason" and "section_17_assessment" in error["message"]
    # Not below the recommendation (strategy_discussion ranks with immediate_protection): no reason needed.
    accepted = client.post(
        f"/v1/referrals/{ack['id']}/decision",
        json=step_down_body(view, override_reason=OVERRIDE),
        headers=practitioner.headers,
    )
    assert accepted.status_code == 201
    assert accepted.json()["state"] == "final" and accepted.json()["step_down"] is True
    [child] = children_rows(engine, ack["id"])
    assert (child.outcome, child.step_down) == ("early_help", True)
    assert feedback_kinds(engine, ack["id"])[-1] == "decision_made"


def test_a_red_step_down_waits_for_a_manager_who_approves_it(
    client: TestClient, police: Actor, practitioner: Actor, manager: Actor, engine: sa.Engine
) -> None:
    ack = refer(client, police, "red")
    claim(client, practitioner, ack["id"])
    view = staff_view(client, practitioner, ack["id"])
    response = client.post(
        f"/v1/referrals/{ack['id']}/decision",
        json=step_down_body(view, override_reason=OVERRIDE),
        headers=practitioner.headers,
    )
    assert response.status_code == 201
    assert response.json()["state"] == "awaiting_approval"
    row = referral_row(engine, ack["id"])
    assert (row.status, row.decided, row.decided_at) == ("awaiting_approval", False, None)
    assert row.awaiting_approval_at is not None
    assert "decision_made" not in feedback_kinds(engine, ack["id"])
    assert children_rows(engine, ack["id"])[0].outcome is None
    # To the referrer it is still being triaged; a practitioner cannot approve, nor the holder release it.
    assert client.get(f"/v1/referrals/{ack['id']}", headers=police.headers).json()["status"] == "in_triage"
    assert client.post(f"/v1/referrals/{ack['id']}/approve", headers=practitioner.headers).status_code == 403
    assert client.post(f"/v1/referrals/{ack['id']}/release", headers=practitioner.headers).status_code == 409
    approved = client.post(f"/v1/referrals/{ack['id']}/approve", headers=manager.headers)
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved" and approved.json()["reviewed_by"] == str(manager.id)
    row = referral_row(engine, ack["id"])
    assert (row.status, row.decided) == ("decided", True) and row.decided_on_time is True
    assert children_rows(engine, ack["id"])[0].outcome == "early_help"
    told = feedback_events(engine, ack["id"])[-1]
    assert told.event == "decision_made" and told.message == "The family will be offered early help support."
    assert client.post(f"/v1/referrals/{ack['id']}/approve", headers=manager.headers).status_code == 409
    actions = audit_actions(engine, ack["id"])
    assert ("decide", practitioner.id) in actions and ("approve", manager.id) in actions


def test_a_manager_returns_a_step_down_with_a_comment_and_the_practitioner_decides_again(
    client: TestClient, police: Actor, practitioner: Actor, manager: Actor, engine: sa.Engine
) -> None:
    ack = refer(client, police, "red")
    claim(client, practitioner, ack["id"])
    view = staff_view(client, practitioner, ack["id"])
    client.post(
        f"/v1/referrals/{ack['id']}/decision",
        json=step_down_body(view, override_reason=OVERRIDE),
        headers=practitioner.headers,
    )
    blank = client.post(f"/v1/referrals/{ack['id']}/return", json={"comment": " "}, headers=manager.headers)
    assert blank.status_code == 422
    comment = "Check the school's attendance data and speak to the health visitor first."
    returned = client.post(f"/v1/referrals/{ack['id']}/return", json={"comment": comment}, headers=manager.headers)
    assert returned.status_code == 200
    assert returned.json()["state"] == "returned" and returned.json()["review_comment"] == comment
    row = referral_row(engine, ack["id"])
    assert (row.status, row.assigned_to) == ("in_triage", practitioner.id)
    assert "decision_made" not in feedback_kinds(engine, ack["id"])
    assert client.post(f"/v1/referrals/{ack['id']}/approve", headers=manager.headers).status_code == 409
    again = decide(client, practitioner, ack["id"])
    assert again.status_code == 201 and again.json()["state"] == "final"
    states = [(d.state, d.review_comment) for d in decisions_of(engine, ack["id"])]
    assert states == [("returned", comment), ("final", None)]
    assert ("return", manager.id) in audit_actions(engine, ack["id"])
    view = staff_view(client, practitioner, ack["id"])
    assert [d["state"] for d in view["decisions"]] == ["returned", "final"]


def test_a_manager_may_not_approve_their_own_step_down(
    client: TestClient, police: Actor, manager: Actor, make_user: Callable[..., Actor]
) -> None:
    ack = refer(client, police, "red")
    claim(client, manager, ack["id"])
    view = staff_view(client, manager, ack["id"])
    client.post(
        f"/v1/referrals/{ack['id']}/decision",
        json=step_down_body(view, override_reason=OVERRIDE),
        headers=manager.headers,
    )
    assert client.post(f"/v1/referrals/{ack['id']}/approve", headers=manager.headers).status_code == 403
    other = make_user(Role.manager)
    assert client.post(f"/v1/referrals/{ack['id']}/approve", headers=other.headers).status_code == 200


def test_a_late_decision_is_recorded_as_late(
    client: TestClient, police: Actor, practitioner: Actor, engine: sa.Engine
) -> None:
    ack = refer(client, police)
    set_due(engine, ack["id"], utc_now() - dt.timedelta(minutes=1))
    claim(client, practitioner, ack["id"])
    response = decide(client, practitioner, ack["id"])
    assert response.json()["decided_on_time"] is False
    assert referral_row(engine, ack["id"]).decided_on_time is False


def test_closing_follows_the_decision_and_tells_the_referrer(
    client: TestClient, police: Actor, practitioner: Actor, engine: sa.Engine
) -> None:
    ack = refer(client, police)
    claim(client, practitioner, ack["id"])
    early = client.post(f"/v1/referrals/{ack['id']}/close", headers=practitioner.headers)
    assert early.status_code == 409 and early.json()["status_now"] == "in_triage"
    decide(client, practitioner, ack["id"])
    closed = client.post(f"/v1/referrals/{ack['id']}/close", headers=practitioner.headers)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    row = referral_row(engine, ack["id"])
    assert row.status == "closed" and row.closed_at is not None and row.decided is True
    assert feedback_kinds(engine, ack["id"]) == ["acknowledged", "in_triage", "decision_made", "closed"]
    assert client.post(f"/v1/referrals/{ack['id']}/close", headers=practitioner.headers).status_code == 409
    assert ("close", practitioner.id) in audit_actions(engine, ack["id"])
