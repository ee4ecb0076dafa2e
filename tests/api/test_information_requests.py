"""Information requests: staff ask a partner, the partner lists and answers, the referral waits, then resumes."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.types import utc_now
from tests.api.workflow_support import audit_actions, claim, decide, feedback_events, refer, referral_row
from tests.conftest import Actor

QUESTION = "Is the family registered with your practice, and were the children seen in the last year?"


def ask(client: TestClient, staff: Actor, referral_id: str, organisation: Actor, **extra: Any) -> Any:
    return client.post(
        f"/v1/referrals/{referral_id}/information-requests",
        json={"organisation_id": str(organisation.id), "question": QUESTION, **extra},
        headers=staff.headers,
    )


def answer(
    client: TestClient, partner: Actor, request_id: str, text: str = "Registered since 2019; seen twice."
) -> Any:
    return client.post(
        f"/v1/information-requests/{request_id}/response", json={"response": text}, headers=partner.headers
    )


def test_asking_a_partner_puts_the_referral_in_awaiting_information(
    client: TestClient, police: Actor, practitioner: Actor, make_org: Callable[..., Actor], engine: sa.Engine
) -> None:
    health = make_org("health")
    ack = refer(client, police)
    claim(client, practitioner, ack["id"])
    response = ask(client, practitioner, ack["id"], health)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/v1/information-requests/{created['id']}"
    assert created["status"] == "open" and created["question"] == QUESTION
    assert created["organisation_id"] == str(health.id) and created["referral_id"] == ack["id"]
    # No due time given: the referral's own decision clock.
    assert dt.datetime.fromisoformat(created["due_at"]) == dt.datetime.fromisoformat(ack["decision_due_at"])
    row = referral_row(engine, ack["id"])
    assert row.status == "awaiting_information" and row.awaiting_information_at is not None
    due = (utc_now() + dt.timedelta(hours=2)).replace(microsecond=0)
    second = ask(client, practitioner, ack["id"], health, due_at=due.isoformat())
    assert second.status_code == 201
    assert dt.datetime.fromisoformat(second.json()["due_at"]) == due
    assert ("information_requested", practitioner.id) in audit_actions(engine, ack["id"])


def test_the_partner_lists_only_what_is_addressed_to_it_and_staff_list_all(
    client: TestClient, police: Actor, practitioner: Actor, make_org: Callable[..., Actor], engine: sa.Engine
) -> None:
    health, school = make_org("health"), make_org("school")
    ack = refer(client, police)
    to_health = ask(client, practitioner, ack["id"], health).json()
    to_school = ask(client, practitioner, ack["id"], school).json()
    mine = client.get("/v1/information-requests", params={"status": "open"}, headers=health.headers)
    assert mine.status_code == 200
    [item] = mine.json()["items"]
    assert item["id"] == to_health["id"] and item["reference"] == ack["reference"]
    # The partner is told whom the question is about, so it can look the child up in its own records.
    assert item["children"][0]["last_name"] and item["children"][0]["date_of_birth"]
    assert client.get("/v1/information-requests", headers=police.headers).json()["items"] == []
    # The partner read who the referral is about: that is on the referral's audit trail.
    assert ("list_information_requests", health.id) in audit_actions(engine, ack["id"])
    everything = client.get("/v1/information-requests", headers=practitioner.headers).json()["items"]
    assert [i["id"] for i in everything] == [to_health["id"], to_school["id"]]
    only_school = client.get(
        "/v1/information-requests", params={"organisation_id": str(school.id)}, headers=practitioner.headers
    ).json()["items"]
    assert [i["id"] for i in only_school] == [to_school["id"]]
    first_page = client.get("/v1/information-requests", params={"limit": 1}, headers=practitioner.headers).json()
    assert [i["id"] for i in first_page["items"]] == [to_health["id"]]
    rest = client.get(
        "/v1/information-requests",
        params={"limit": 1, "cursor": first_page["next_cursor"]},
        headers=practitioner.headers,
    ).json()
    assert [i["id"] for i in rest["items"]] == [to_school["id"]] and rest["next_cursor"] is None


def test_only_the_addressed_organisation_answers_and_only_once(
    client: TestClient, police: Actor, practitioner: Actor, make_org: Callable[..., Actor]
) -> None:
    health, other_health = make_org("health"), make_org("health")
    ack = refer(client, police)
    request_id = ask(client, practitioner, ack["id"], health).json()["id"]
    assert answer(client, other_health, request_id).status_code == 404
    assert answer(client, police, request_id).status_code == 404
    staff = client.post(
        f"/v1/information-requests/{request_id}/response", json={"response": "x"}, headers=practitioner.headers
    )
    assert staff.status_code == 403
    answered = answer(client, health, request_id)
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "answered" and answered.json()["answered_at"]
    again = answer(client, health, request_id, "A second, different answer to the same question.")
    assert again.status_code == 409
    answered_list = client.get("/v1/information-requests", params={"status": "answered"}, headers=health.headers)
    assert answered_list.json()["items"][0]["response"] == "Registered since 2019; seen twice."
    assert (
        client.get("/v1/information-requests", params={"status": "open"}, headers=health.headers).json()["items"] == []
    )


def test_the_last_answer_returns_the_referral_to_triage(
    client: TestClient, police: Actor, practitioner: Actor, make_org: Callable[..., Actor], engine: sa.Engine
) -> None:
    health, school = make_org("health"), make_org("school")
    ack = refer(client, police)
    claim(client, practitioner, ack["id"])
    first = ask(client, practitioner, ack["id"], health).json()["id"]
    second = ask(client, practitioner, ack["id"], school).json()["id"]
    assert answer(client, health, first).status_code == 200
    assert referral_row(engine, ack["id"]).status == "awaiting_information"
    assert answer(client, school, second).status_code == 200
    row = referral_row(engine, ack["id"])
    assert row.status == "in_triage" and row.assigned_to == practitioner.id
    actions = [action for action, _ in audit_actions(engine, ack["id"])]
    assert actions.count("information_answered") == 2
    view = client.get(f"/v1/referrals/{ack['id']}", headers=practitioner.headers).json()
    assert [r["status"] for r in view["information_requests"]] == ["answered", "answered"]
    assert view["information_requests"][0]["response"] == "Registered since 2019; seen twice."


def test_asking_the_referrer_itself_tells_it_through_feedback(
    client: TestClient, police: Actor, practitioner: Actor, make_org: Callable[..., Actor], engine: sa.Engine
) -> None:
    health = make_org("health")
    ack = refer(client, police)
    claim(client, practitioner, ack["id"])
    ask(client, practitioner, ack["id"], health)
    assert [e.event for e in feedback_events(engine, ack["id"])] == ["acknowledged", "in_triage"]
    ask(client, practitioner, ack["id"], police)
    events = feedback_events(engine, ack["id"])
    assert [e.event for e in events] == ["acknowledged", "in_triage", "information_requested"]
    assert QUESTION not in events[-1].message


def test_asking_before_anyone_claims_starts_triage(
    client: TestClient, police: Actor, practitioner: Actor, make_org: Callable[..., Actor], engine: sa.Engine
) -> None:
    ack = refer(client, police)
    assert ask(client, practitioner, ack["id"], make_org("school")).status_code == 201
    assert [e.event for e in feedback_events(engine, ack["id"])] == ["acknowledged", "in_triage"]
    claim(client, practitioner, ack["id"])
    assert referral_row(engine, ack["id"]).status == "awaiting_information"
    assert [e.event for e in feedback_events(engine, ack["id"])] == ["acknowledged", "in_triage"]


def test_a_bad_request_is_refused_with_every_problem(client: TestClient, police: Actor, practitioner: Actor) -> None:
    ack = refer(client, police)
    response = client.post(
        f"/v1/referrals/{ack['id']}/information-requests",
        json={"organisation_id": str(uuid.uuid4()), "question": "n/a", "due_at": "2020-01-01T10:00:00+00:00"},
        headers=practitioner.headers,
    )
    assert response.status_code == 422
    assert {e["pointer"] for e in response.json()["errors"]} == {"/organisation_id", "/question", "/due_at"}
    naive = client.post(
        f"/v1/referrals/{ack['id']}/information-requests",
        json={"organisation_id": str(police.id), "question": QUESTION, "due_at": "2030-01-01T10:00:00"},
        headers=practitioner.headers,
    )
    assert naive.status_code == 422 and naive.json()["errors"][0]["pointer"] == "/due_at"
    assert referral_row_status(client, practitioner, ack["id"]) == "received"


def test_a_decided_referral_takes_no_more_requests(
    client: TestClient, police: Actor, practitioner: Actor, make_org: Callable[..., Actor]
) -> None:
    ack = refer(client, police)
    claim(client, practitioner, ack["id"])
    assert decide(client, practitioner, ack["id"]).status_code == 201
    refused = ask(client, practitioner, ack["id"], make_org("health"))
    assert refused.status_code == 409
    assert refused.json()["status_now"] == "decided"


def referral_row_status(client: TestClient, staff: Actor, referral_id: str) -> str:
    return str(client.get(f"/v1/referrals/{referral_id}", headers=staff.headers).json()["status"])
