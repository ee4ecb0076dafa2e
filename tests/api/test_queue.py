"""GET /v1/queue: undecided referrals, most urgent first, filtered, paginated, in a fixed number of queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.tables import AuditEvent
from schemas.types import utc_now
from tests.api.workflow_support import TODAY, body, claim, decide, refer, set_due
from tests.conftest import Actor
from tests.validation_cases import unborn_child

ITEM_FIELDS = {
    "id", "reference", "status", "rag", "level", "pathway", "received_at", "decision_due_at", "overdue",
    "assigned_to", "agency", "children",
}  # fmt: skip


def queue(client: TestClient, actor: Actor, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/queue", params=params, headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


def test_most_urgent_first_then_earliest_due(
    client: TestClient, police: Actor, practitioner: Actor, engine: sa.Engine
) -> None:
    now = utc_now()
    green = refer(client, police, "green")["id"]
    amber_late = refer(client, police, "amber")["id"]
    amber_early = refer(client, police, "amber")["id"]
    red = refer(client, police, "red")["id"]
    set_due(engine, amber_late, now + dt.timedelta(hours=6))
    set_due(engine, amber_early, now + dt.timedelta(hours=2))
    # A green due sooner than every other still comes after them: urgency first, then the clock.
    set_due(engine, green, now + dt.timedelta(minutes=30))
    page = queue(client, practitioner)
    assert ids(page) == [red, amber_early, amber_late, green]
    assert [item["rag"] for item in page["items"]] == ["red", "amber", "amber", "green"]
    assert page["next_cursor"] is None


def test_each_item_has_exactly_the_fields_of_the_contract(
    client: TestClient, police: Actor, practitioner: Actor, engine: sa.Engine
) -> None:
    sent = body("amber")
    sent["children"].append(unborn_child(today=TODAY))
    ack = client.post("/v1/referrals", json=sent, headers=police.headers).json()
    set_due(engine, ack["id"], utc_now() - dt.timedelta(minutes=5))
    [item] = queue(client, practitioner)["items"]
    assert set(item) == ITEM_FIELDS
    assert item["reference"] == ack["reference"] and item["status"] == "received"
    assert (item["rag"], item["level"], item["pathway"]) == ("amber", 3, "section_17_assessment")
    assert item["agency"] == "police" and item["assigned_to"] is None
    assert item["overdue"] is True
    born, unborn = sent["children"]
    assert item["children"] == [
        {"name": f"{born['first_name']} {born['last_name']}", "age_or_unborn": 9},
        {"name": f"Unborn {unborn['last_name']}", "age_or_unborn": "unborn"},
    ]


def test_decided_referrals_leave_the_queue_and_a_step_down_awaiting_approval_stays(
    client: TestClient, police: Actor, practitioner: Actor
) -> None:
    amber = refer(client, police, "amber")["id"]
    red_as_recommended = refer(client, police, "red")["id"]
    for referral_id in (amber, red_as_recommended):
        claim(client, practitioner, referral_id)
        assert decide(client, practitioner, referral_id).status_code == 201
    assert ids(queue(client, practitioner)) == []
    # Now a red referral stepped down: it waits for a manager and stays in the queue.
    red = refer(client, police, "red")["id"]
    claim(client, practitioner, red)
    view = client.get(f"/v1/referrals/{red}", headers=practitioner.headers).json()
    outcomes = [
        {"child_id": c["id"], "outcome": "early_help", "rationale": "Family engaging well with support.",
         "override_reason": "Police confirm the risk has passed; father has left the home."}
        for c in view["children"]
    ]  # fmt: skip
    response = client.post(
        f"/v1/referrals/{red}/decision",
        json={"outcomes": outcomes, "feedback": "Early help will be offered."},
        headers=practitioner.headers,
    )
    assert response.status_code == 201, response.text
    [item] = queue(client, practitioner)["items"]
    assert (item["id"], item["status"]) == (red, "awaiting_approval")


def test_filters_by_status_rag_holder_and_overdue(
    client: TestClient, police: Actor, practitioner: Actor, make_user: Any, engine: sa.Engine
) -> None:
    colleague = make_user("practitioner")
    red = refer(client, police, "red")["id"]
    amber = refer(client, police, "amber")["id"]
    green = refer(client, police, "green")["id"]
    claim(client, practitioner, red)
    claim(client, colleague, amber)
    set_due(engine, green, utc_now() - dt.timedelta(hours=1))
    assert ids(queue(client, practitioner, rag="amber")) == [amber]
    assert ids(queue(client, practitioner, status="received")) == [green]
    assert ids(queue(client, practitioner, status="in_triage")) == [red, amber]
    assert ids(queue(client, practitioner, assigned="me")) == [red]
    assert ids(queue(client, colleague, assigned="me")) == [amber]
    assert ids(queue(client, practitioner, assigned="unassigned")) == [green]
    assert ids(queue(client, practitioner, overdue="true")) == [green]
    assert ids(queue(client, practitioner, overdue="true", rag="red")) == []
    assert ids(queue(client, practitioner, assigned="unassigned", status="received", rag="green")) == [green]


def test_unknown_filters_are_refused_with_a_prompt(client: TestClient, practitioner: Actor) -> None:
    for params in ({"status": "decided"}, {"rag": "purple"}, {"assigned": "them"}, {"limit": 201}, {"limit": 0}):
        response = client.get("/v1/queue", params=params, headers=practitioner.headers)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"
    bad_cursor = client.get("/v1/queue", params={"cursor": "not-ours"}, headers=practitioner.headers)
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["errors"][0]["code"] == "cursor_invalid"


def test_pages_follow_the_cursor_without_gaps_or_repeats(
    client: TestClient, police: Actor, practitioner: Actor, engine: sa.Engine
) -> None:
    now = utc_now()
    made = [refer(client, police, urgency)["id"] for urgency in ("green", "amber", "red", "amber", "green")]
    # Two referrals due at the same instant: the id breaks the tie, so neither is skipped nor repeated.
    for referral_id in made:
        set_due(engine, referral_id, now + dt.timedelta(hours=3))
    whole = ids(queue(client, practitioner, limit=200))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = queue(client, practitioner, **params)
        seen += ids(page)
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == whole and sorted(seen) == sorted(made)
    assert pages == 3


def test_a_partner_cannot_read_the_queue(client: TestClient, police: Actor) -> None:
    response = client.get("/v1/queue", headers=police.headers)
    assert response.status_code == 403


def test_every_referral_on_a_page_is_audited_as_read(
    client: TestClient, police: Actor, practitioner: Actor, engine: sa.Engine
) -> None:
    made = {refer(client, police)["id"] for _ in range(3)}
    queue(client, practitioner, limit=2)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(AuditEvent.entity_id, AuditEvent.actor_id, AuditEvent.purpose).where(AuditEvent.action == "list")
        ).all()
    assert len(rows) == 2
    assert {row.entity_id for row in rows} <= made
    assert all(row.actor_id == practitioner.id and row.purpose == "triage queue" for row in rows)


@contextmanager
def counting(engine: sa.Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_one_page_takes_the_same_few_statements_whatever_its_size(
    client: TestClient, police: Actor, practitioner: Actor, engine: sa.Engine
) -> None:
    for _ in range(2):
        refer(client, police, children=3)
    with counting(engine) as small:
        assert len(queue(client, practitioner)["items"]) == 2
    for _ in range(38):
        refer(client, police, children=3)
    with counting(engine) as large:
        page = queue(client, practitioner)
    assert len(page["items"]) == 40 and all(len(item["children"]) == 3 for item in page["items"])
    # Key lookup, the page, its children and one batched audit insert (plus transaction control): no N+1.
    assert len(large) == len(small), (small, large)
    assert len([s for s in large if "FROM child" in s]) == 1
    assert len(large) <= 8


@contextmanager
def capturing(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    captured: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        captured.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        yield captured
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"rag": "amber"},
        {"assigned": "me"},
        {"assigned": "unassigned"},
        {"overdue": "true"},
        {"status": "in_triage"},
    ],
    ids=["all", "rag", "mine", "unassigned", "overdue", "status"],
)
def test_the_queue_query_is_served_by_an_index(
    client: TestClient, police: Actor, practitioner: Actor, engine: sa.Engine, params: dict[str, str]
) -> None:
    refer(client, police)
    with capturing(engine) as captured:
        queue(client, practitioner, **params)
    [(statement, parameters)] = [(s, p) for s, p in captured if "FROM referral" in s and "ORDER BY" in s]
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # On a table this small a sequential scan is cheapest; forbid it to see which index serves the query.
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
            assert "Seq Scan" not in plan, plan
        else:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            plan = "\n".join(str(row[-1]) for row in rows)
            assert "SCAN referral" not in plan, plan
            # Rows come in index order; only ties on (rag, due time) are put in id order.
            assert "TEMP B-TREE FOR ORDER BY" not in plan, plan
    assert "ix_referral_" in plan, plan
