"""The leaders' summary and the census items, on a hand-built data set whose answers are worked out below.

Referrals are sent through the API; decisions are written straight into the decision columns (outcome,
step-down, decided_at, the decision_made feedback event), and each referral is then moved to the time the
case needs, so every figure can be counted by hand.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient

from tests.api.reports_support import (
    AGENCIES,
    HOUR,
    NOT_SEEN,
    OUTCOMES,
    PERIOD,
    PRE_VERBAL,
    TODAY,
    UTC,
    Case,
    Data,
    at,
    body,
    kid,
    summary,
    zeros,
)
from tests.conftest import Actor
from tests.validation_cases import unborn_child, valid_referral
from triage.db import alembic_config


@pytest.fixture
def data(client: TestClient, engine: sa.Engine) -> Data:
    return Data(client, engine)


@pytest.fixture
def orgs(make_org: Callable[..., Actor]) -> dict[str, Actor]:
    return {agency: make_org(agency) for agency in ("police", "school", "health")}


@pytest.fixture
def cases(data: Data, orgs: dict[str, Actor]) -> dict[str, Case]:
    """The data set. Children: A 9 heard, B 1 pre-verbal, C 16 heard, D unborn, E 4 heard (referred before), F 7
    not seen, G 17 heard."""
    police, school, health = orgs["police"], orgs["school"], orgs["health"]
    e = kid(4)
    now = dt.datetime.now(UTC)
    found: dict[str, Case] = {}
    # Before the period: E's first referral, so E's referral in the period is a re-referral.
    found["R0"] = data.send(
        school, body("school", e, concerns=["neglect"]), received=at("2025-12-01T10:00"), due=at("2025-12-02T10:00")
    )
    # R1 Monday 23 March, week of 23 March: A and B, neglect and domestic abuse; decided in 5 hours, on time.
    found["R1"] = data.send(
        police,
        body("police", kid(9), kid(1, PRE_VERBAL), concerns=["neglect", "domestic_abuse"]),
        received=at("2026-03-23T10:00"),
        due=at("2026-03-24T10:00"),
    )
    data.decide(
        found["R1"],
        after=5 * HOUR,
        on_time=True,
        outcomes=[("section_17_assessment", False), ("early_help", True)],
        told=True,
    )
    # R2 Sunday 23:30 UTC = Monday 30 March 00:30 BST, so the week of 30 March: C; decided in 30 hours, late, not told.
    found["R2"] = data.send(
        police,
        body("police", kid(16), concerns=["physical_abuse"]),
        received=at("2026-03-29T23:30"),
        due=at("2026-03-30T07:30"),
    )
    data.decide(found["R2"], after=30 * HOUR, on_time=False, outcomes=[("strategy_discussion", False)], told=False)
    # R3 week of 23 March: D unborn, neglect; undecided and overdue.
    found["R3"] = data.send(
        school,
        body("school", unborn_child(today=TODAY), concerns=["neglect"]),
        received=at("2026-03-25T12:00"),
        due=at("2026-03-26T12:00"),
    )
    # R4 week of 30 March: E again; undecided, due tomorrow (not overdue).
    found["R4"] = data.send(
        school,
        body("school", e, concerns=["emotional_abuse"]),
        received=at("2026-04-01T09:00"),
        due=now + dt.timedelta(days=1),
    )
    # R5 Sunday 5 April 22:00 UTC = 23:00 BST, the last hour of the period: F not seen, neglect; decided in 2 hours.
    found["R5"] = data.send(
        health,
        body("health", kid(7, NOT_SEEN), concerns=["neglect"]),
        received=at("2026-04-05T22:00"),
        due=at("2026-04-06T02:00"),
    )
    data.decide(found["R5"], after=2 * HOUR, on_time=True, outcomes=[("immediate_protection", False)], told=True)
    # R9 week of 30 March: G, other; decided in 7 hours, stepped down to no further action.
    found["R9"] = data.send(
        health, body("health", kid(17), concerns=["other"]), received=at("2026-03-31T13:00"), due=at("2026-03-31T21:00")
    )
    data.decide(found["R9"], after=7 * HOUR, on_time=True, outcomes=[("no_further_action", True)], told=True)
    # Outside the period, decided and told, so that any leak would show: 00:30 BST on 6 April, 23:30 GMT on 22 March.
    found["R6"] = data.send(
        police,
        body("police", kid(3), concerns=["neglect"]),
        received=at("2026-04-05T23:30"),
        due=at("2026-04-06T03:30"),
    )
    data.decide(found["R6"], after=HOUR, on_time=True, outcomes=[("early_help", True)], told=True)
    found["R7"] = data.send(
        police,
        body("police", kid(5), concerns=["housing"]),
        received=at("2026-03-22T23:30"),
        due=at("2026-03-23T17:00"),
    )
    data.decide(found["R7"], after=HOUR, on_time=False, outcomes=[("no_further_action", False)], told=True)
    # Refused submissions: police twice (voice missing; voice and consent reason missing), school once, in the period;
    # health once after it.
    no_voice = valid_referral("police", today=TODAY)
    del no_voice["children"][0]["voice"]
    data.refuse(police, no_voice, when=at("2026-03-24T09:00"))
    both = valid_referral("police", today=TODAY)
    del both["children"][0]["voice"]
    del both["consent"]["reason"]
    data.refuse(police, both, when=at("2026-03-30T09:00"))
    school_no_voice = valid_referral("school", today=TODAY)
    del school_no_voice["children"][0]["voice"]
    data.refuse(school, school_no_voice, when=at("2026-04-02T09:00"))
    late = valid_referral("health", today=TODAY)
    del late["children"][0]["voice"]
    data.refuse(health, late, when=at("2026-04-06T09:00"))
    return found


def test_volume(client: TestClient, manager: Actor, cases: dict[str, Case]) -> None:
    volume = summary(client, manager)["volume"]
    # In the period: R1 (A, B), R2 (C), R3 (D), R4 (E), R5 (F), R9 (G); not R0, R6 or R7.
    assert volume["referrals"] == 6
    assert volume["children"] == 7
    assert volume["referrals_by_agency"] == zeros(AGENCIES, police=2, school=2, health=2)
    assert volume["children_by_agency"] == zeros(AGENCIES, police=3, school=2, health=2)
    concerns = volume["referrals_by_concern"]
    assert len(concerns) == 16
    assert {k: v for k, v in concerns.items() if v} == {
        "neglect": 3, "domestic_abuse": 1, "physical_abuse": 1, "emotional_abuse": 1, "other": 1
    }  # fmt: skip
    # London weeks: R2 arrived on Sunday in UTC but Monday in London.
    assert volume["referrals_by_week"] == {"2026-03-23": 2, "2026-03-30": 4}
    assert volume["children_by_week"] == {"2026-03-23": 3, "2026-03-30": 4}


def test_weeks_of_a_long_period(client: TestClient, manager: Actor, cases: dict[str, Case]) -> None:
    # Over a long period each referral's children are counted in one ordered pass rather than looked up: the
    # same figures. From Monday 24 November 2025: R0 (week of 1 December) and R7 (22 March 23:30 GMT, a Sunday,
    # so the week of 16 March) come in; R6 (00:30 BST on 6 April) is still after it.
    volume = summary(client, manager, **{"from": "2025-11-24", "to": "2026-04-05"})["volume"]
    assert len(volume["referrals_by_week"]) == 19
    weeks = {"2025-12-01": 1, "2026-03-16": 1, "2026-03-23": 2, "2026-03-30": 4}
    assert {week: n for week, n in volume["referrals_by_week"].items() if n} == weeks
    assert {week: n for week, n in volume["children_by_week"].items() if n} == {**weeks, "2026-03-23": 3}
    assert (volume["referrals"], volume["children"]) == (8, 9)
    assert volume["children_by_agency"] == zeros(AGENCIES, police=4, school=3, health=2)


def test_timeliness(client: TestClient, manager: Actor, cases: dict[str, Case]) -> None:
    timeliness = summary(client, manager)["timeliness"]
    # Decided: R1 in 5 h and R5 in 2 h and R9 in 7 h on time, R2 in 30 h late. Undecided: R3 overdue, R4 not yet due.
    assert timeliness["decided"] == 4
    assert timeliness["decided_on_time"] == 3
    assert timeliness["decided_late"] == 1
    assert timeliness["due"] == 5
    assert timeliness["share_decided_on_time"] == 0.6
    assert timeliness["median_hours_to_decision"] == 6.0  # (5 + 7) / 2
    assert timeliness["undecided_now"] == 2
    assert timeliness["overdue_now"] == 1


def test_outcomes(client: TestClient, manager: Actor, cases: dict[str, Case]) -> None:
    outcomes = summary(client, manager)["outcomes"]
    # A s17, B early help (stepped down), C strategy discussion, F immediate protection, G NFA (stepped down).
    assert outcomes["children_decided"] == 5
    assert outcomes["children_by_outcome"] == {
        "no_further_action": 1, "universal_services": 0, "early_help": 1, "section_17_assessment": 1,
        "strategy_discussion": 1, "immediate_protection": 1,
    }  # fmt: skip
    assert outcomes["to_assessment"] == 1
    assert outcomes["to_strategy_discussion"] == 2
    assert outcomes["share_converted"] == 0.6
    assert outcomes["children_decided_by_agency"] == zeros(AGENCIES, police=3, health=2)
    assert outcomes["converted_by_agency"] == zeros(AGENCIES, police=2, health=1)
    assert outcomes["share_converted_by_agency"]["police"] == 0.6667
    assert outcomes["share_converted_by_agency"]["health"] == 0.5
    assert outcomes["share_converted_by_agency"]["school"] is None
    by_agency = outcomes["children_by_agency_and_outcome"]
    assert by_agency["police"] == zeros(OUTCOMES, section_17_assessment=1, early_help=1, strategy_discussion=1)
    assert by_agency["health"] == zeros(OUTCOMES, immediate_protection=1, no_further_action=1)
    assert by_agency["school"] == zeros(OUTCOMES)
    assert outcomes["stepped_down"] == 2
    assert outcomes["share_stepped_down"] == 0.4


def test_re_referrals(client: TestClient, manager: Actor, cases: dict[str, Case]) -> None:
    re_referrals = summary(client, manager)["re_referrals"]
    # Only E had been referred in the 12 months before (R0, in December).
    assert re_referrals == {"children": 7, "re_referred_within_12_months": 1, "share_re_referred": 0.1429}


def test_referral_quality(client: TestClient, manager: Actor, cases: dict[str, Case]) -> None:
    quality = summary(client, manager)["referral_quality"]
    # Six accepted and three refused in the period (the health refusal came after it).
    assert quality["accepted"] == 6
    assert quality["rejected"] == 3
    assert quality["submissions"] == 9
    assert quality["share_accepted_first_time"] == 0.6667
    assert quality["rejected_by_agency"] == zeros(AGENCIES, police=2, school=1)
    assert quality["rejected_by_rule"] == {"child_voice_missing": 3, "consent_reason_missing": 1}
    # Heard: A, C, E, G. Not heard: B pre-verbal, D unborn, F not seen.
    assert quality["voice_heard"] == 4
    assert quality["share_voice_heard"] == 0.5714
    reasons = quality["voice_not_heard_by_reason"]
    assert {k: v for k, v in reasons.items() if v} == {"pre_verbal": 1, "unborn": 1, "not_seen": 1}
    assert len(reasons) == 7


def test_neglect(client: TestClient, manager: Actor, cases: dict[str, Case]) -> None:
    neglect = summary(client, manager)["neglect"]
    # R1 (A 9, B 1), R3 (D unborn), R5 (F 7); R0 and R6 are outside the period.
    assert neglect["referrals"] == 3
    assert neglect["children"] == 4
    assert neglect["children_by_age_band"] == {"unborn": 1, "0-1": 1, "2-6": 0, "7-15": 2, "16-17": 0}
    by_outcome = neglect["children_by_age_band_and_outcome"]
    columns = [*OUTCOMES, "undecided"]
    assert by_outcome["unborn"] == zeros(columns, undecided=1)
    assert by_outcome["0-1"] == zeros(columns, early_help=1)
    assert by_outcome["2-6"] == zeros(columns)
    assert by_outcome["7-15"] == zeros(columns, section_17_assessment=1, immediate_protection=1)
    assert by_outcome["16-17"] == zeros(columns)


def test_feedback(client: TestClient, manager: Actor, cases: dict[str, Case]) -> None:
    feedback = summary(client, manager)["feedback"]
    # Decided R1, R2, R5, R9; the referrer of R2 was not told.
    assert feedback == {"referrals_decided": 4, "referrers_told_decision": 3, "share_told_decision": 0.75}


def test_period_is_echoed_in_utc(client: TestClient, manager: Actor, cases: dict[str, Case]) -> None:
    period = summary(client, manager)["period"]
    assert period == {"from": "2026-03-23T00:00:00+00:00", "to": "2026-04-05T23:00:00+00:00"}


def test_csv_gives_the_same_figures(client: TestClient, manager: Actor, cases: dict[str, Case]) -> None:
    as_json = summary(client, manager)
    response = client.get("/v1/reports/summary", params=PERIOD, headers={**manager.headers, "Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["section", "measure", "breakdown", "value"]
    table = {(s, m, b): v for s, m, b, v in rows[1:]}
    assert len(table) == len(rows) - 1, "one row per figure"
    expected: dict[tuple[str, str, str], str] = {}

    def walk(section: str, measure: str, breakdown: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(section, measure, f"{breakdown}/{key}" if breakdown else key, inner)
        else:
            expected[(section, measure, breakdown)] = "" if value is None else str(value)

    for section, measures in as_json.items():
        if section == "period":
            continue
        if section == "generated_at":
            continue
        for measure, value in measures.items():
            walk(section, measure, "", value)
    assert {k: v for k, v in table.items() if k[0] != "period"} == expected
    assert table[("volume", "referrals_by_week", "2026-03-30")] == "4"
    assert table[("neglect", "children_by_age_band_and_outcome", "7-15/immediate_protection")] == "1"
    assert table[("timeliness", "median_hours_to_decision", "")] == "6.0"
    assert table[("period", "from", "")] == "2026-03-23T00:00:00+00:00"


def test_default_period_is_the_last_30_days(
    client: TestClient, manager: Actor, data: Data, orgs: dict[str, Actor]
) -> None:
    now = dt.datetime.now(UTC)
    police = orgs["police"]
    recent = data.send(
        police, body("police", kid(8), concerns=["neglect"]), received=now - 29 * 24 * HOUR, due=now - 28 * 24 * HOUR
    )
    data.decide(recent, after=3 * HOUR, on_time=True, outcomes=[("early_help", False)], told=True)
    data.send(
        police, body("police", kid(8), concerns=["neglect"]), received=now - 31 * 24 * HOUR, due=now - 30 * 24 * HOUR
    )
    figures = client.get("/v1/reports/summary", headers=manager.headers).json()
    assert figures["volume"]["referrals"] == 1
    assert figures["timeliness"]["median_hours_to_decision"] == 3.0
    start = dt.datetime.fromisoformat(figures["period"]["from"])
    end = dt.datetime.fromisoformat(figures["period"]["to"])
    assert end - start == dt.timedelta(days=30)
    assert abs(end - now) < dt.timedelta(minutes=1)


def test_an_empty_period_has_zeros_and_no_shares(client: TestClient, manager: Actor, admin_user: Actor) -> None:
    figures = summary(client, admin_user, **{"from": "2020-01-01", "to": "2020-01-07"})
    assert figures["volume"]["referrals"] == 0
    assert figures["volume"]["referrals_by_week"] == {"2019-12-30": 0, "2020-01-06": 0}
    assert figures["timeliness"]["share_decided_on_time"] is None
    assert figures["timeliness"]["median_hours_to_decision"] is None
    assert figures["feedback"]["share_told_decision"] is None


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "2026-04-05", "to": "2026-03-23"}, "report_range_invalid"),
        ({"from": "2026-04-05T10:00:00Z", "to": "2026-04-05T10:00:00Z"}, "report_range_invalid"),
        ({"from": "2026-02-30"}, "report_from_invalid"),
        ({"to": "next tuesday"}, "report_to_invalid"),
        ({"from": "2026-03-01T09:00:00"}, "report_from_invalid"),
        ({"from": "2010-01-01", "to": "2026-01-01"}, "report_range_invalid"),
    ],
)
def test_a_bad_period_is_a_problem(client: TestClient, manager: Actor, params: dict[str, str], code: str) -> None:
    for path in ("/v1/reports/summary", "/v1/reports/cin-referrals"):
        response = client.get(path, params=params, headers=manager.headers)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert [error["code"] for error in response.json()["errors"]] == [code]


def test_times_with_offsets_are_read_as_instants(client: TestClient, manager: Actor, cases: dict[str, Case]) -> None:
    # 00:00 BST on 30 March is 23:00 UTC on the 29th: R2 (23:30 UTC) is in, R3 (25 March) is not. The '+' of an
    # offset sent unencoded arrives as a space and still counts as an offset.
    response = client.get(
        "/v1/reports/summary?from=2026-03-30T00:00:00+01:00&to=2026-04-01T00:00:00Z", headers=manager.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["period"]["from"] == "2026-03-29T23:00:00+00:00"
    assert response.json()["volume"]["referrals"] == 2  # R2 and R9


def test_cin_referrals(client: TestClient, manager: Actor, cases: dict[str, Case]) -> None:
    response = client.get("/v1/reports/cin-referrals", params=PERIOD, headers=manager.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    # Oldest first: R1 (A, B), R3 (D), R2 (C), R9 (G), R4 (E), R5 (F).
    expected = [("R1", 0), ("R1", 1), ("R3", 0), ("R2", 0), ("R9", 0), ("R4", 0), ("R5", 0)]
    assert [row["child_record_id"] for row in rows] == [str(cases[r].children[i]) for r, i in expected]
    by_record = {row["child_record_id"]: row for row in rows}
    e_now = by_record[str(cases["R4"].children[0])]
    # E is named by the record of their first referral, and their referral is a re-referral.
    assert e_now["child_id"] == str(cases["R0"].children[0])
    assert e_now["re_referral_within_12_months"] == "true"
    assert e_now["referral_source"] == "2A"
    assert e_now["referral_date"] == "2026-04-01"
    c = by_record[str(cases["R2"].children[0])]
    assert c["child_id"] == c["child_record_id"]
    assert c["re_referral_within_12_months"] == "false"
    assert (c["referral_source"], c["referral_source_description"]) == ("6", "Police")
    assert c["referral_date"] == "2026-03-30"  # 23:30 UTC on the 29th is the 30th in London
    f = by_record[str(cases["R5"].children[0])]
    assert f["referral_source"] == "3F"
    assert f["referral_reference"].startswith("MASH-")
    assert f["referral_id"] == str(cases["R5"].id)


COPIED = {
    "referral": ("id", "child_count", "told", "concern_bits"),
    "child": ("id", "received_at", "agency", "neglect"),
}


def _copied(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            table: sorted(conn.execute(sa.text(f"SELECT {', '.join(columns)} FROM {table}")).all())
            for table, columns in COPIED.items()
        }


def test_the_copies_reports_count_by_are_rebuilt_from_the_referrals_on_record(
    client: TestClient, manager: Actor, cases: dict[str, Case], engine: sa.Engine, database_url: str
) -> None:
    """The revisions that added the copies fill them in for referrals already on record: the same copies, and so
    the same figures, as intake and the decision wrote."""
    before, copies = summary(client, manager), _copied(engine)
    assert {told for _, _, told, _ in copies["referral"]} == {True, False}
    assert len({bits for *_, bits in copies["referral"]}) > 3
    config = alembic_config(database_url)
    command.downgrade(config, "reports_1")
    with engine.connect() as conn:
        assert "told" not in {c["name"] for c in sa.inspect(conn).get_columns("referral")}
    command.upgrade(config, "head")
    assert _copied(engine) == copies
    after = summary(client, manager)
    assert after.pop("generated_at") and before.pop("generated_at")
    assert after == before
