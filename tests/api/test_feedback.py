"""Feedback through the HTTP API: each event, the polling feed and its cursor, ETags and 304, scoping, audit."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session

from schemas.enums import FeedbackEventKind
from schemas.tables import AuditEvent, FeedbackEvent, Referral
from tests.api.feedback_support import FEEDBACK_TEXT, QUESTION, drain, emit, journey, poll, send, settle
from tests.api.workflow_support import claim, decide, refer, staff_view
from tests.conftest import Actor
from triage import feedback
from triage.db import get_engine, session_scope

EVENT_KEYS = {"id", "cursor", "referral_id", "reference", "event", "at", "message"}
OUTCOMES = [{"child": "Maya S.", "outcome": "early_help", "next_steps": "The early help team will call the family."}]


def audits(engine: sa.Engine, action: str) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.execute(sa.select(AuditEvent).where(AuditEvent.action == action)).scalars())


def test_a_referral_is_acknowledged_in_its_feedback_and_in_the_feed(
    client: TestClient, police: Actor, engine: sa.Engine
) -> None:
    sent = send(client, police)
    mine = client.get(f"/v1/referrals/{sent['id']}/feedback", headers=police.headers)
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["referral_id"] == sent["id"] and body["reference"] == sent["reference"]
    [event] = body["items"]
    assert set(event) == EVENT_KEYS
    assert event["event"] == "acknowledged" and event["referral_id"] == sent["id"]
    assert event["reference"] == sent["reference"] and sent["reference"] in event["message"]
    assert dt.datetime.fromisoformat(event["at"]).utcoffset() == dt.timedelta(0)
    # The referrer is told what happens next, never the rating.
    assert "red" not in event["message"].lower().split() and "rag" not in event
    items, _ = drain(client, police)
    assert [(i["referral_id"], i["event"], i["cursor"]) for i in items] == [
        (sent["id"], "acknowledged", event["cursor"])
    ]


def test_every_kind_of_event_reaches_the_referrer_with_the_outcomes_on_the_decision(
    client: TestClient, police: Actor, engine: sa.Engine
) -> None:
    sent = send(client, police)
    emit(engine, sent["id"], FeedbackEventKind.in_triage)
    emit(engine, sent["id"], FeedbackEventKind.information_requested)
    emit(engine, sent["id"], FeedbackEventKind.decision_made, outcomes=OUTCOMES)
    emit(engine, sent["id"], FeedbackEventKind.closed)
    expected = ["acknowledged", "in_triage", "information_requested", "decision_made", "closed"]
    items, _ = drain(client, police)
    assert [i["event"] for i in items] == expected
    per_referral = client.get(f"/v1/referrals/{sent['id']}/feedback", headers=police.headers).json()["items"]
    assert [i["event"] for i in per_referral] == expected
    assert per_referral == items
    decided = items[3]
    assert decided["outcomes"] == OUTCOMES
    assert all("outcomes" not in i for i in items if i["event"] != "decision_made")


def test_a_poller_following_next_cursor_gets_every_event_once_in_order(client: TestClient, police: Actor) -> None:
    sent = [send(client, police) for _ in range(5)]
    items, cursor = drain(client, police, limit=2)
    assert [i["referral_id"] for i in items] == [s["id"] for s in sent]
    assert len({i["cursor"] for i in items}) == 5
    # Nothing new: the same place is handed back, so the poller never starts again from the beginning.
    quiet = poll(client, police, cursor, limit=2)
    assert quiet == {"items": [], "next_cursor": cursor, "has_more": False}
    later = send(client, police)
    again, _ = drain(client, police, cursor, limit=2)
    assert [i["referral_id"] for i in again] == [later["id"]]


def test_a_cursor_the_service_did_not_issue_is_refused(client: TestClient, police: Actor) -> None:
    for bad in ("not-a-cursor", "WzEsMiwzXQ", "WyJhIiwxXQ"):  # garbage, three numbers, a string
        response = client.get("/v1/feedback", params={"after": bad}, headers=police.headers)
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["code"] == "cursor_invalid"
    assert client.get("/v1/feedback", params={"limit": 0}, headers=police.headers).status_code == 422
    assert client.get("/v1/feedback", params={"limit": 201}, headers=police.headers).status_code == 422


def test_the_feed_answers_304_while_nothing_changes(client: TestClient, police: Actor) -> None:
    send(client, police)
    first = client.get("/v1/feedback", headers=police.headers)
    tag = first.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"')
    unchanged = client.get("/v1/feedback", headers={**police.headers, "If-None-Match": tag})
    assert unchanged.status_code == 304
    assert unchanged.content == b"" and unchanged.headers["etag"] == tag
    weak_in_a_list = client.get("/v1/feedback", headers={**police.headers, "If-None-Match": f'"other", W/{tag}'})
    assert weak_in_a_list.status_code == 304
    # Another query is another answer.
    other_page = client.get("/v1/feedback", params={"limit": 1}, headers={**police.headers, "If-None-Match": tag})
    assert other_page.status_code == 200 and other_page.headers["etag"] != tag
    send(client, police)
    changed = client.get("/v1/feedback", headers={**police.headers, "If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert len(changed.json()["items"]) == 2


def test_one_referrals_feedback_answers_304_until_an_event_is_added(
    client: TestClient, police: Actor, engine: sa.Engine
) -> None:
    sent = send(client, police)
    url = f"/v1/referrals/{sent['id']}/feedback"
    tag = client.get(url, headers=police.headers).headers["etag"]
    assert client.get(url, headers={**police.headers, "If-None-Match": tag}).status_code == 304
    emit(engine, sent["id"], FeedbackEventKind.in_triage)
    changed = client.get(url, headers={**police.headers, "If-None-Match": tag})
    assert changed.status_code == 200 and [i["event"] for i in changed.json()["items"]] == ["acknowledged", "in_triage"]


@contextmanager
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()).lower())

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)


def test_a_304_costs_one_index_probe_not_the_page_query(client: TestClient, police: Actor, engine: sa.Engine) -> None:
    for _ in range(3):
        send(client, police)
    tag = client.get("/v1/feedback", headers=police.headers).headers["etag"]
    with statements(engine) as seen:
        assert client.get("/v1/feedback", headers={**police.headers, "If-None-Match": tag}).status_code == 304
    on_events = [s for s in seen if "from feedback_event" in s]
    assert len(on_events) == 1, seen
    [probe] = on_events
    assert "join referral" not in probe and ("max(" in probe or "limit" in probe), probe
    assert not [s for s in seen if s.startswith("insert into audit_event")]


def test_another_organisation_sees_none_of_it_and_staff_see_all(
    client: TestClient, make_org: Callable[..., Actor], practitioner: Actor
) -> None:
    police, health = make_org("police"), make_org("health")
    theirs = send(client, police)
    ours = send(client, health)
    assert client.get(f"/v1/referrals/{theirs['id']}/feedback", headers=health.headers).status_code == 404
    health_items, _ = drain(client, health)
    assert [i["referral_id"] for i in health_items] == [ours["id"]]
    police_items, _ = drain(client, police)
    assert [i["referral_id"] for i in police_items] == [theirs["id"]]
    # A tag for one organisation's feed is never another's.
    police_tag = client.get("/v1/feedback", headers=police.headers).headers["etag"]
    assert client.get("/v1/feedback", headers={**health.headers, "If-None-Match": police_tag}).status_code == 200
    staff_items, _ = drain(client, practitioner)
    assert {i["referral_id"] for i in staff_items} == {theirs["id"], ours["id"]}
    assert client.get(f"/v1/referrals/{theirs['id']}/feedback", headers=practitioner.headers).status_code == 200


def test_reading_feedback_is_audited_once_per_referral_returned(
    client: TestClient, police: Actor, engine: sa.Engine
) -> None:
    first, second = send(client, police), send(client, police)
    emit(engine, first["id"], FeedbackEventKind.in_triage)
    before = len(audits(engine, "read_feedback"))
    items, _ = drain(client, police)
    assert len(items) == 3
    rows = audits(engine, "read_feedback")[before:]
    assert sorted(r.entity_id or "" for r in rows) == sorted([first["id"], second["id"]])
    assert {(r.entity, r.organisation_id, r.detail["via"]) for r in rows} == {("referral", police.id, "feed")}
    client.get(f"/v1/referrals/{second['id']}/feedback", headers=police.headers)
    [last] = audits(engine, "read_feedback")[before + 2 :]
    assert (last.entity_id, last.detail["via"]) == (second["id"], "referral")


def test_an_event_rolled_back_with_its_cause_never_appears(
    client: TestClient, police: Actor, engine: sa.Engine
) -> None:
    sent = send(client, police)
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        referral = session.get(Referral, uuid.UUID(sent["id"]))
        assert referral is not None
        feedback.emit(session=session, referral=referral, event=FeedbackEventKind.in_triage, message="lost")
        raise RuntimeError("the claim failed after the event was written")
    items, _ = drain(client, police)
    assert [i["event"] for i in items] == ["acknowledged"]
    with Session(engine) as session:
        assert session.execute(sa.select(sa.func.count()).select_from(FeedbackEvent)).scalar_one() == 1


# The workflow tells the referrer as it goes: each event through the staff calls themselves.


def test_the_referrer_hears_of_each_step_of_the_workflow(
    client: TestClient, police: Actor, practitioner: Actor
) -> None:
    sent = journey(client, police, practitioner)
    items, _ = drain(client, police)
    assert [i["event"] for i in items] == [
        "acknowledged",
        "in_triage",
        "information_requested",
        "decision_made",
        "closed",
    ]
    assert all(i["referral_id"] == sent["id"] and sent["reference"] in i["reference"] for i in items)
    decision = items[3]
    assert decision["message"] == FEEDBACK_TEXT
    [outcome] = decision["outcomes"]
    assert set(outcome) == {"child", "outcome", "next_steps"}
    assert outcome["child"] == "Child0 T."  # first name and surname initial only
    assert outcome["next_steps"]
    # Never the rationale, the rating or the question asked of another agency.
    text = repr(items)
    assert "In line with the threshold rating" not in text and '"rag"' not in text and "amber" not in text
    per_referral = client.get(f"/v1/referrals/{sent['id']}/feedback", headers=police.headers).json()["items"]
    assert per_referral == items


def test_a_step_down_on_a_red_referral_is_told_only_once_a_manager_approves(
    client: TestClient, police: Actor, practitioner: Actor, manager: Actor
) -> None:
    sent = refer(client, police, "red")
    claim(client, practitioner, sent["id"])
    view = staff_view(client, practitioner, sent["id"])
    outcomes = [
        {"child_id": c["id"], "outcome": "early_help", "rationale": "Seen at home.", "override_reason": "Risk reduced."}
        for c in view["children"]
    ]
    waiting = decide(client, practitioner, sent["id"], outcomes=outcomes)
    assert waiting.status_code == 201 and waiting.json()["state"] == "awaiting_approval", waiting.text
    settle(get_engine())
    kinds = [i["event"] for i in drain(client, police)[0]]
    assert kinds == ["acknowledged", "in_triage"]
    approved = client.post(f"/v1/referrals/{sent['id']}/approve", headers=manager.headers)
    assert approved.status_code == 200, approved.text
    settle(get_engine())
    items, _ = drain(client, police)
    assert [i["event"] for i in items] == ["acknowledged", "in_triage", "decision_made"]
    assert {o["outcome"] for o in items[2]["outcomes"]} == {"early_help"}


def test_a_question_for_another_organisation_is_not_told_to_the_referrer(
    client: TestClient, make_org: Callable[..., Actor], practitioner: Actor
) -> None:
    police, health = make_org("police"), make_org("health")
    sent = refer(client, police)
    claim(client, practitioner, sent["id"])
    asked = client.post(
        f"/v1/referrals/{sent['id']}/information-requests",
        json={"organisation_id": str(health.id), "question": QUESTION},
        headers=practitioner.headers,
    )
    assert asked.status_code == 201, asked.text
    settle(get_engine())
    assert [i["event"] for i in drain(client, police)[0]] == ["acknowledged", "in_triage"]
    # Nor is the referral's feedback the asked organisation's to read.
    assert drain(client, health)[0] == []
    assert client.get(f"/v1/referrals/{sent['id']}/feedback", headers=health.headers).status_code == 404
