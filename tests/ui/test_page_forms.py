"""The pages' forms over HTTP: the queue and its filters, claiming, deciding, asking, strategy, approvals, reports."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.enums import Role
from schemas.tables import Referral
from tests.conftest import Actor
from tests.ui.support import (
    TODAY,
    add_staff,
    error_summary,
    page_token,
    referral_body,
    send_referral,
    signed_in_client,
)
from tests.validation_cases import unborn_child
from triage.db import get_engine


def _overdue(referral_id: str) -> None:
    with get_engine().begin() as conn:
        conn.execute(
            sa.update(Referral)
            .where(Referral.id == uuid.UUID(referral_id))  # type: ignore[arg-type]
            .values(decision_due_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=95))
        )


def test_the_queue_keeps_the_api_order_and_filters_and_refreshes_with_them(
    app: Any, client: TestClient, police: Actor
) -> None:
    green = send_referral(client, police.headers, referral_body("green"))
    amber = send_referral(client, police.headers, referral_body("amber"))
    red = send_referral(client, police.headers, referral_body("red"))
    _overdue(amber["id"])
    staff = signed_in_client(app, add_staff(Role.practitioner))
    page = staff.get("/queue").text
    assert page.index(red["reference"]) < page.index(amber["reference"]) < page.index(green["reference"])
    assert re.search(r"Overdue by 1 hour 3[56] minutes", page)
    assert 'hx-get="/queue/rows"' in page and 'hx-trigger="every 30s"' in page

    reds = staff.get("/queue?rag=red").text
    assert red["reference"] in reds and amber["reference"] not in reds
    assert 'hx-get="/queue/rows?rag=red"' in reds
    overdue = staff.get("/queue/rows?overdue=true&rag=amber").text
    assert amber["reference"] in overdue and red["reference"] not in overdue
    assert 'hx-get="/queue/rows?rag=amber&amp;overdue=true"' in overdue
    assert "<html" not in overdue  # a fragment, swapped into the page

    claimed = staff.post(f"/referrals/{red['id']}/claim", data={"csrf_token": page_token(staff)})
    assert claimed.status_code == 200 and "You now hold this referral." in claimed.text
    mine = staff.get("/queue?assigned=me").text
    assert red["reference"] in mine and green["reference"] not in mine
    nobodys = staff.get("/queue?assigned=unassigned").text
    assert red["reference"] not in nobodys and green["reference"] in nobodys
    bad = staff.get("/queue?rag=purple")
    assert bad.status_code == 422
    assert "Use rag=red, amber or green." in bad.text


def test_a_referral_held_by_someone_else_cannot_be_claimed_and_its_holder_can_release_it(
    app: Any, client: TestClient, police: Actor
) -> None:
    sent = send_referral(client, police.headers, referral_body("amber"))
    first = add_staff(Role.practitioner, name="First Holder")
    holder, other = signed_in_client(app, first), signed_in_client(app, add_staff(Role.practitioner))
    assert holder.post(f"/referrals/{sent['id']}/claim", data={"csrf_token": page_token(holder)}).status_code == 200
    refused = other.post(f"/referrals/{sent['id']}/claim", data={"csrf_token": page_token(other)})
    assert refused.status_code == 409
    assert "Another member of staff holds this referral" in refused.text
    page = other.get(f"/referrals/{sent['id']}").text
    assert "First Holder holds this referral; only they can decide it." in page
    assert 'action="/referrals/' + sent["id"] + '/decision"' not in page
    released = holder.post(f"/referrals/{sent['id']}/release", data={"csrf_token": page_token(holder)})
    assert released.status_code == 200  # back on the queue
    assert "Claim this referral" in other.get(f"/referrals/{sent['id']}").text


def test_the_referral_page_shows_each_childs_voice_rating_and_history(
    app: Any, client: TestClient, police: Actor
) -> None:
    body = referral_body("amber")
    body["children"].append(unborn_child(today=TODAY))
    earlier = send_referral(client, police.headers, body)
    again = referral_body("amber")
    again["children"] = [body["children"][0]]
    later = send_referral(client, police.headers, again)
    staff = signed_in_client(app, add_staff(Role.practitioner))

    first = staff.get(f"/referrals/{earlier['id']}").text
    assert "In Maya's own words" in first
    assert "drinking, he shouts and breaks things." in first
    assert "voice was not heard: unborn" in first
    assert "The baby is not yet born" in first
    assert "Neglect is a concern." in first  # the rules that fired, in plain English
    assert "No earlier referrals matched this child" in first
    queue = staff.get("/queue").text
    assert "Unborn Testcase" in queue and "(unborn)" in queue and "(9 years)" in queue
    second = staff.get(f"/referrals/{later['id']}").text
    assert earlier["reference"] in second  # the child's earlier referral, in their history
    assert "The child was referred before in the last 12 months." in second


def test_decision_errors_link_to_their_fields_and_a_decision_as_recommended_is_final(
    app: Any, client: TestClient, police: Actor
) -> None:
    sent = send_referral(client, police.headers, referral_body("amber"))
    staff = signed_in_client(app, add_staff(Role.practitioner))
    token = page_token(staff)
    staff.post(f"/referrals/{sent['id']}/claim", data={"csrf_token": token})
    path = f"/referrals/{sent['id']}/decision"

    empty = staff.post(path, data={"csrf_token": token})
    assert empty.status_code == 422
    links = error_summary(empty.text)
    assert [href for href, _ in links] == ["#outcomes-0-outcome", "#feedback"]
    assert links[0][1].startswith("Choose an outcome for Maya Testcase-")
    assert links[1][1] == "Enter what the referrer will be told about the decision and what happens next"

    step_down = {
        "csrf_token": token,
        "outcomes-0-outcome": "universal_services",
        "outcomes-0-rationale": "Mother has already moved out with the children.",
        "feedback": "Thank you; universal services will support the family.",
    }
    demanded = staff.post(path, data=step_down)
    assert demanded.status_code == 422
    assert [href for href, _ in error_summary(demanded.text)] == ["#outcomes-0-override_reason"]
    assert "Universal services is below the rules&#39; recommendation" in demanded.text
    assert "Mother has already moved out with the children." in demanded.text  # what was typed is kept

    recommended = {**step_down, "outcomes-0-outcome": "section_17_assessment", "feedback": "A social worker will call."}
    decided = staff.post(path, data=recommended)
    assert decided.status_code == 200
    assert "Decision recorded. The referrer has been told." in decided.text
    assert "A social worker will call." in decided.text
    assert "A social worker will carry out a child and family assessment" in decided.text  # the next steps told
    again = staff.post(path, data=recommended)
    assert again.status_code == 409
    closed = staff.post(f"/referrals/{sent['id']}/close", data={"csrf_token": token})
    assert "Referral closed. The referrer has been told." in closed.text
    told = client.get(f"/v1/referrals/{sent['id']}/feedback", headers=police.headers).json()["items"]
    assert [event["event"] for event in told][-2:] == ["decision_made", "closed"]


def test_information_requests_and_strategy_discussions_are_recorded_or_their_problems_shown(
    app: Any, client: TestClient, police: Actor, make_org: Any
) -> None:
    health = make_org("health")
    sent = send_referral(client, police.headers, referral_body("red"))
    staff = signed_in_client(app, add_staff(Role.practitioner))
    token = page_token(staff)

    problems = staff.post(
        f"/referrals/{sent['id']}/information-requests",
        data={"csrf_token": token, "question": "?", "due-day": "31", "due-month": "2", "due-year": "2027"},
    )
    assert problems.status_code == 422
    assert [href for href, _ in error_summary(problems.text)] == ["#organisation_id", "#due-day", "#question"]
    asked = staff.post(
        f"/referrals/{sent['id']}/information-requests",
        data={"csrf_token": token, "organisation_id": str(health.id), "question": "Are the children registered?"},
    )
    assert asked.status_code == 200
    assert "Information request sent." in asked.text and "Are the children registered?" in asked.text
    answered = client.post(
        f"/v1/information-requests/{_request_id(client, health)}/response",
        json={"response": "Yes, both children are registered with us and were seen in May."},
        headers=health.headers,
    )
    assert answered.status_code == 200
    assert "were seen in May." in staff.get(f"/referrals/{sent['id']}").text

    yesterday = TODAY - dt.timedelta(days=1)
    discussion = {
        "csrf_token": token,
        "held-day": str(yesterday.day),
        "held-month": str(yesterday.month),
        "held-year": str(yesterday.year),
        "held-time": "14:30",
        "participants-0-agency": "local_authority",
        "participants-0-name": "Sam Social Worker",
        "participants-1-agency": "police",
        "participants-1-name": "DC Example",
        "safety_plan": "The father stays with his brother and has no unsupervised contact until the conference.",
        "actions": "Section 47 enquiry to start today\nPolice to interview the father",
    }
    missing_health = staff.post(f"/referrals/{sent['id']}/strategy-discussion", data=discussion)
    assert missing_health.status_code == 422
    assert error_summary(missing_health.text)[0][0] == "#participants-0-agency"
    assert "missing: health" in missing_health.text
    assert "DC Example" in missing_health.text
    discussion.update({"participants-3-agency": "health", "participants-3-name": "Nurse Example"})
    recorded = staff.post(f"/referrals/{sent['id']}/strategy-discussion", data=discussion)
    assert recorded.status_code == 200
    assert "Strategy discussion recorded." in recorded.text
    assert "Nurse Example (Health)" in recorded.text
    assert "Police to interview the father" in recorded.text


def _request_id(client: TestClient, partner: Actor) -> str:
    found = client.get("/v1/information-requests?status=open", headers=partner.headers).json()["items"]
    assert len(found) == 1
    return str(found[0]["id"])


def test_a_red_step_down_waits_for_another_manager_who_approves_or_returns_it(
    app: Any, client: TestClient, police: Actor
) -> None:
    sent = send_referral(client, police.headers, referral_body("red"))
    deciding, reviewing = add_staff(Role.manager), add_staff(Role.manager)
    decider, reviewer = signed_in_client(app, deciding), signed_in_client(app, reviewing)
    token = page_token(decider)
    decider.post(f"/referrals/{sent['id']}/claim", data={"csrf_token": token})
    step_down = {
        "csrf_token": token,
        "outcomes-0-outcome": "early_help",
        "outcomes-0-rationale": "The adult who posed the risk has been arrested and remanded.",
        "outcomes-0-override_reason": "No one who poses a risk lives in the home now; mother is protective.",
        "feedback": "The family will be offered early help.",
    }
    waiting = decider.post(f"/referrals/{sent['id']}/decision", data=step_down)
    assert "waits for a manager&#39;s approval" in waiting.text

    own = decider.get("/approvals").text
    assert sent["reference"] in own and "You made this decision" in own
    refused = decider.post(f"/referrals/{sent['id']}/approve", data={"csrf_token": token})
    assert refused.status_code == 409 and "you made this decision yourself" in refused.text

    review_token = page_token(reviewer)
    no_comment = reviewer.post(f"/referrals/{sent['id']}/return", data={"csrf_token": review_token, "comment": ""})
    assert no_comment.status_code == 422
    assert error_summary(no_comment.text)[0][0] == f"#comment-{sent['id']}"
    returned = reviewer.post(
        f"/referrals/{sent['id']}/return",
        data={"csrf_token": review_token, "comment": "Speak to the school before stepping down."},
    )
    assert "Decision returned to the practitioner" in returned.text
    page = decider.get(f"/referrals/{sent['id']}").text
    assert "Speak to the school before stepping down." in page
    assert decider.post(f"/referrals/{sent['id']}/decision", data=step_down).status_code == 200
    approved = reviewer.post(f"/referrals/{sent['id']}/approve", data={"csrf_token": review_token})
    assert "Step-down approved. The referrer has been told." in approved.text
    told = client.get(f"/v1/referrals/{sent['id']}/feedback", headers=police.headers).json()["items"]
    assert told[-1]["event"] == "decision_made"
    assert told[-1]["message"] == "The family will be offered early help."


def _waiting_step_down(app: Any, client: TestClient, police: Actor) -> str:
    sent = send_referral(client, police.headers, referral_body("red"))
    decider = signed_in_client(app, add_staff(Role.manager))
    token = page_token(decider)
    decider.post(f"/referrals/{sent['id']}/claim", data={"csrf_token": token})
    waiting = decider.post(
        f"/referrals/{sent['id']}/decision",
        data={
            "csrf_token": token,
            "outcomes-0-outcome": "early_help",
            "outcomes-0-rationale": "The adult who posed the risk has been arrested and remanded.",
            "outcomes-0-override_reason": "No one who poses a risk lives in the home now; mother is protective.",
            "feedback": "The family will be offered early help.",
        },
    )
    assert "waits for a manager&#39;s approval" in waiting.text
    return str(sent["reference"])


def test_the_approvals_page_takes_the_same_statements_however_many_wait(
    app: Any, client: TestClient, police: Actor
) -> None:
    reviewer = signed_in_client(app, add_staff(Role.manager))
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    def approvals_page() -> tuple[str, int]:
        statements.clear()
        sa.event.listen(get_engine(), "before_cursor_execute", count)
        try:
            return reviewer.get("/approvals").text, len(statements)
        finally:
            sa.event.remove(get_engine(), "before_cursor_execute", count)

    first = _waiting_step_down(app, client, police)
    page, one = approvals_page()
    assert first in page
    later = [_waiting_step_down(app, client, police) for _ in range(3)]
    page, four = approvals_page()
    assert all(reference in page for reference in [first, *later])
    assert four == one, statements


def test_the_dashboard_reads_a_period_and_downloads_the_same_figures(
    app: Any, client: TestClient, police: Actor
) -> None:
    send_referral(client, police.headers, referral_body("amber"))
    manager = signed_in_client(app, add_staff(Role.manager))
    page = manager.get("/dashboard")
    assert page.status_code == 200
    assert "Referrals received" in page.text and "<svg" in page.text
    today = TODAY.isoformat()
    bad = manager.get("/dashboard?from=yesterday")
    assert bad.status_code == 422
    assert error_summary(bad.text)[0][0] == "#from"
    csv = manager.get(f"/dashboard.csv?from={today}&to={today}")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert f'filename="mash-summary-{today}' in csv.headers["content-disposition"]
    lines = csv.text.splitlines()
    assert lines[0] == "section,measure,breakdown,value"
    assert "volume,referrals,,1" in lines
