"""The staff view of a referral, and one child's chronology across referrals."""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.enums import Role
from schemas.tables import AuditEvent
from schemas.types import utc_now
from tests.api.workflow_support import claim, decide, refer, staff_view
from tests.conftest import Actor
from tests.validation_cases import child, valid_referral
from triage import intake
from triage.auth import Caller
from triage.db import get_engine, session_scope

NOW = utc_now()


def send(org: Actor, the_child: dict[str, Any], *, days_ago: int, categories: list[str]) -> str:
    """A referral about THE_CHILD from ORG, received DAYS_AGO."""
    received = NOW - dt.timedelta(days=days_ago)
    body = valid_referral(org.agency or "police", today=received.date())
    body["children"] = [copy.deepcopy(the_child)]
    body["concerns"]["categories"] = categories
    caller = Caller(key_id=org.key_id, role=Role.referrer, organisation_id=org.id, agency=org.agency)
    with session_scope(get_engine()) as session:
        ack = intake.submit(session=session, caller=caller, body=body, idempotency_key=None, now=received)
    return str(ack.body["id"])


def a_child() -> dict[str, Any]:
    found = child(today=NOW.date(), age=8, first_name="Jordan")
    found["voice"]["recorded_on"] = (NOW - dt.timedelta(days=400)).date().isoformat()
    return found


def test_the_staff_view_shows_each_childs_earlier_referrals_newest_first(
    client: TestClient, make_org: Callable[..., Actor], practitioner: Actor
) -> None:
    school, health, police = make_org("school"), make_org("health"), make_org("police")
    jordan = a_child()
    first = send(school, jordan, days_ago=200, categories=["neglect"])
    claim(client, practitioner, first)
    view = staff_view(client, practitioner, first)
    outcome = {"child_id": view["children"][0]["id"], "outcome": "early_help", "rationale": "Family asked for help.",
               "override_reason": "School already supports the family; mother has agreed to early help."}  # fmt: skip
    decided = client.post(
        f"/v1/referrals/{first}/decision",
        json={"outcomes": [outcome], "feedback": "Early help offered."},
        headers=practitioner.headers,
    )
    assert decided.status_code == 201, decided.text
    second = send(health, jordan, days_ago=100, categories=["parental_mental_health"])
    latest = send(police, jordan, days_ago=0, categories=["domestic_abuse", "neglect"])

    view = staff_view(client, practitioner, latest)
    [only] = view["children"]
    assert uuid.UUID(only["id"]) and only["triage"]["reasons"] and only["triage"]["rule_set_version"] == 1
    assert [r["rule_id"] for r in only["triage"]["reasons"]] == [
        "domestic-abuse-witnessed", "neglect", "re-referral", "additional-needs", "universal",
    ]  # fmt: skip
    previous = only["previous_referrals"]
    assert [p["referral_id"] for p in previous] == [second, first]
    assert previous[0]["agency"] == "health" and previous[0]["concerns"] == ["parental_mental_health"]
    assert previous[1] | {"date": None} == {
        "referral_id": first,
        "reference": previous[1]["reference"],
        "child_id": previous[1]["child_id"],
        "date": None,
        "agency": "school",
        "concerns": ["neglect"],
        "rating": {"level": 3, "rag": "amber", "pathway": "section_17_assessment"},
        "outcome": "early_help",
        "status": "decided",
    }
    assert dt.datetime.fromisoformat(previous[1]["date"]) < dt.datetime.fromisoformat(previous[0]["date"])
    # The history feeds the rules: a re-referral within 12 months.
    assert "re-referral" in [r["rule_id"] for r in only["triage"]["reasons"]]
    assert {r["rule_id"] for r in view["triage"]["reasons"]} >= {"re-referral"}


def test_the_staff_view_shows_the_work_done_and_the_audit_trail(
    client: TestClient, police: Actor, practitioner: Actor, make_org: Callable[..., Actor]
) -> None:
    health = make_org("health")
    ack = refer(client, police, "red")
    claim(client, practitioner, ack["id"])
    client.post(
        f"/v1/referrals/{ack['id']}/information-requests",
        json={"organisation_id": str(health.id), "question": "Please share the family's recent health contacts."},
        headers=practitioner.headers,
    )
    strategy = {
        "held_at": (NOW - dt.timedelta(minutes=10)).isoformat(),
        "participants": [
            {"agency": "local_authority", "name": "Sam Social Worker"},
            {"agency": "police", "name": "DC Example"},
            {"agency": "health", "name": "Named Nurse"},
        ],
        "safety_plan": "Mother and child to stay with grandmother; no contact with father until the conference.",
        "actions": ["Section 47 enquiry today"],
    }
    assert (
        client.post(
            f"/v1/referrals/{ack['id']}/strategy-discussion", json=strategy, headers=practitioner.headers
        ).status_code
        == 201
    )
    assert decide(client, practitioner, ack["id"]).status_code == 201
    view = staff_view(client, practitioner, ack["id"])
    assert view["status"] == "decided" and view["assigned_to"] == str(practitioner.id)
    assert view["status_times"]["decided"] and view["status_times"]["in_triage"] and view["decided_on_time"] is True
    [request] = view["information_requests"]
    assert request["organisation_id"] == str(health.id) and request["organisation_name"].startswith("health ")
    assert request["status"] == "open" and request["asked_by"] == str(practitioner.id)
    [decision] = view["decisions"]
    assert decision["state"] == "final" and decision["outcomes"][0]["rationale"]
    assert len(view["strategy_discussions"]) == 1
    trail = view["audit_trail"]["events"]
    actions = [event["action"] for event in trail]
    assert actions[0] == "create" and actions[-1] == "read"
    assert {"claim", "information_requested", "strategy_discussion", "decide"} <= set(actions)
    claimed = next(event for event in trail if event["action"] == "claim")
    assert claimed["actor_id"] == str(practitioner.id) and claimed["actor_name"] and claimed["role"] == "practitioner"
    created = trail[0]
    assert created["actor_id"] == str(police.id) and created["actor_kind"] == "organisation"
    # Nothing of the staff's work reaches the referrer.
    mine = client.get(f"/v1/referrals/{ack['id']}", headers=police.headers).json()
    for private in ("triage", "audit_trail", "information_requests", "decisions", "strategy_discussions"):
        assert private not in mine
    assert "previous_referrals" not in json.dumps(mine) and "rationale" not in json.dumps(mine)


def test_a_childs_history_is_the_whole_chronology_oldest_first(
    client: TestClient, make_org: Callable[..., Actor], practitioner: Actor, engine: sa.Engine
) -> None:
    school, police = make_org("school"), make_org("police")
    jordan = a_child()
    first = send(school, jordan, days_ago=300, categories=["neglect"])
    # The same child without an NHS number and with spacing and case changed: matched by names and birth date.
    renamed = {**copy.deepcopy(jordan), "first_name": " JORDAN", "last_name": jordan["last_name"].lower()}
    renamed.pop("nhs_number")
    middle = send(police, renamed, days_ago=30, categories=["domestic_abuse"])
    last = send(school, jordan, days_ago=1, categories=["school_attendance"])
    someone_else = send(school, a_child(), days_ago=2, categories=["neglect"])
    middle_child = staff_view(client, practitioner, middle)["children"][0]["id"]

    response = client.get(f"/v1/children/{middle_child}/history", headers=practitioner.headers)
    assert response.status_code == 200
    history = response.json()
    assert history["order"] == "oldest" and history["child"]["id"] == middle_child
    entries = history["referrals"]
    assert [e["referral_id"] for e in entries] == [first, middle, last]
    assert someone_else not in [e["referral_id"] for e in entries]
    assert [e["this_record"] for e in entries] == [False, True, False]
    assert [e["agency"] for e in entries] == ["school", "police", "school"]
    assert entries[0]["concerns"] == ["neglect"] and entries[0]["rating"]["rag"] == "amber"
    assert {"date", "agency", "concerns", "rating", "outcome"} <= set(entries[0])
    newest = client.get(
        f"/v1/children/{middle_child}/history", params={"order": "newest"}, headers=practitioner.headers
    ).json()
    assert [e["referral_id"] for e in newest["referrals"]] == [last, middle, first]
    with engine.connect() as conn:
        read = conn.execute(
            sa.select(AuditEvent.entity_id).where(
                AuditEvent.action == "read_history", AuditEvent.actor_id == practitioner.id
            )
        ).scalars()
        assert set(read) >= {first, middle, last}


def test_a_child_referred_once_has_one_entry_and_others_are_refused(
    client: TestClient, police: Actor, practitioner: Actor
) -> None:
    only = refer(client, police)
    child_id = staff_view(client, practitioner, only["id"])["children"][0]["id"]
    history = client.get(f"/v1/children/{child_id}/history", headers=practitioner.headers).json()
    assert [e["referral_id"] for e in history["referrals"]] == [only["id"]]
    assert client.get(f"/v1/children/{uuid.uuid4()}/history", headers=practitioner.headers).status_code == 404
    assert client.get(f"/v1/children/{child_id}/history", headers=police.headers).status_code == 403
