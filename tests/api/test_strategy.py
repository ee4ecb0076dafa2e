"""Strategy discussions: children's social care, police and health must take part, with a written safety plan."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.types import utc_now
from tests.api.workflow_support import audit_actions, refer, staff_view
from tests.conftest import Actor

SAFETY_PLAN = (
    "Father to stay with his brother and have no unsupervised contact until the conference; "
    "school to check in with the child every morning and report any absence the same day."
)
EVERYONE_NEEDED = [
    {"agency": "local_authority", "name": "Sam Social Worker"},
    {"agency": "police", "name": "DC Example"},
    {"agency": "gp", "name": "Dr Example"},
]


def discussion(**changes: Any) -> dict[str, Any]:
    record = {
        "held_at": (utc_now() - dt.timedelta(hours=1)).isoformat(),
        "participants": EVERYONE_NEEDED,
        "safety_plan": SAFETY_PLAN,
        "actions": [
            {"action": "Section 47 enquiry to begin today", "owner": "Children's social care", "due_by": "2030-01-01"},
            "Police to arrange an achieving best evidence interview",
        ],
    }
    record.update(changes)
    return record


def post(client: TestClient, actor: Actor, referral_id: str, record: dict[str, Any]) -> Any:
    return client.post(f"/v1/referrals/{referral_id}/strategy-discussion", json=record, headers=actor.headers)


def test_a_complete_discussion_is_recorded_with_its_actions(
    client: TestClient, police: Actor, practitioner: Actor, engine: sa.Engine
) -> None:
    referral_id = refer(client, police, "red")["id"]
    response = post(client, practitioner, referral_id, discussion())
    assert response.status_code == 201, response.text
    recorded = response.json()
    assert [p["agency"] for p in recorded["participants"]] == ["local_authority", "police", "gp"]
    assert recorded["safety_plan"] == SAFETY_PLAN
    assert recorded["actions"] == [
        {"action": "Section 47 enquiry to begin today", "owner": "Children's social care", "due_by": "2030-01-01"},
        {"action": "Police to arrange an achieving best evidence interview", "owner": None, "due_by": None},
    ]
    view = staff_view(client, practitioner, referral_id)
    assert [d["id"] for d in view["strategy_discussions"]] == [recorded["id"]]
    assert ("strategy_discussion", practitioner.id) in audit_actions(engine, referral_id)


def test_police_and_a_social_worker_alone_are_not_enough(
    client: TestClient, police: Actor, practitioner: Actor
) -> None:
    referral_id = refer(client, police, "red")["id"]
    response = post(client, practitioner, referral_id, discussion(participants=EVERYONE_NEEDED[:2]))
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["pointer"] == "/participants" and error["code"] == "strategy_participants_missing"
    assert "health" in error["message"] and "police" not in error["message"].split("missing:")[1]
    only_health = post(client, practitioner, referral_id, discussion(participants=[EVERYONE_NEEDED[2]]))
    missing = only_health.json()["errors"][0]["message"].split("missing:")[1]
    assert "social care" in missing and "police" in missing and "health" not in missing
    # A dental practice does not speak for health at a strategy discussion; a health visitor does.
    dentist = [*EVERYONE_NEEDED[:2], {"agency": "dental", "name": "Dr Tooth"}]
    assert post(client, practitioner, referral_id, discussion(participants=dentist)).status_code == 422
    visitor = [*EVERYONE_NEEDED[:2], {"agency": "health", "name": "Health Visitor Example"}]
    assert post(client, practitioner, referral_id, discussion(participants=visitor)).status_code == 201


def test_a_safety_plan_must_say_what_keeps_the_child_safe(
    client: TestClient, police: Actor, practitioner: Actor
) -> None:
    referral_id = refer(client, police, "red")["id"]
    for plan in ("", "n/a", "To be confirmed.", "TBC - see notes, see notes, see notes, see notes"):
        response = post(client, practitioner, referral_id, discussion(safety_plan=plan))
        assert response.status_code == 422, plan
        assert [e["pointer"] for e in response.json()["errors"]] == ["/safety_plan"], plan
    missing = discussion()
    del missing["safety_plan"]
    assert post(client, practitioner, referral_id, missing).json()["errors"][0]["pointer"] == "/safety_plan"


def test_every_problem_is_reported_at_once(client: TestClient, police: Actor, practitioner: Actor) -> None:
    referral_id = refer(client, police, "red")["id"]
    response = post(
        client,
        practitioner,
        referral_id,
        discussion(
            held_at=(utc_now() + dt.timedelta(days=1)).isoformat(),
            participants=[{"agency": "police", "name": " "}],
            safety_plan="n/a",
            actions=["  "],
        ),
    )
    assert response.status_code == 422
    assert {e["pointer"] for e in response.json()["errors"]} == {
        "/held_at",
        "/participants",
        "/participants/0/name",
        "/safety_plan",
        "/actions/0",
    }
    unknown_agency = post(
        client, practitioner, referral_id, discussion(participants=[{"agency": "social_care", "name": "Sam"}])
    )
    assert unknown_agency.status_code == 422
    assert unknown_agency.json()["errors"][0]["pointer"] == "/participants/0/agency"
