"""Referral validation: every rule refuses with a pointer, a stable code and a prompt; valid bodies pass."""

from __future__ import annotations

import copy
import datetime as dt
import re
from typing import Any

import pytest

from schemas.enums import Agency
from schemas.referral_in import ReferralIn
from tests.validation_cases import (
    CASES,
    MULTI_PROBLEM_AGENCY,
    MULTI_PROBLEM_EXPECTED,
    MULTI_PROBLEM_MUTATE,
    TODAY_FOR_CASES,
    Mutate,
    child,
    unborn_child,
    valid_referral,
    years_before,
)
from triage.errors import Invalid, Problem
from triage.validation import is_placeholder, rejection_pointer_pattern, validate_referral

TODAY = TODAY_FOR_CASES
PROMPT_VERB = re.compile(r"\b(Record|Give|Say|Add|Remove|Choose|Use|Check|Tell|Enter)\b")
GENERIC_TEXTS = {"field required", "input should be a valid string", "extra inputs are not permitted"}


def problems_for(agency: str, mutate: Mutate) -> list[Problem]:
    """The problems reported for a valid body of the agency after one mutation."""
    body = valid_referral(agency, today=TODAY)
    mutate(body)
    with pytest.raises(Invalid) as caught:
        validate_referral(body, agency=agency, today=TODAY)
    return caught.value.problems


def leaf_strings(value: Any) -> list[str]:
    """Every string value in a body (not its keys)."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in leaf_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in leaf_strings(v)]
    return [value] if isinstance(value, str) else []


def test_there_are_enough_cases_and_their_ids_are_unique() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) >= 45
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(("agency", "mutate", "pointer", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_refuses_with_pointer_code_and_prompt(agency: str, mutate: Mutate, pointer: str, code: str) -> None:
    problems = problems_for(agency, mutate)
    found = [p for p in problems if p.pointer == pointer and p.code == code]
    assert found, [p.as_dict() for p in problems]
    message = found[0].message
    assert len(message) >= 40
    assert message.strip().lower().rstrip(".") not in GENERIC_TEXTS
    assert PROMPT_VERB.search(message), message


@pytest.mark.parametrize(("agency", "mutate", "pointer", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_problem_is_a_prompt_with_a_pointer(agency: str, mutate: Mutate, pointer: str, code: str) -> None:
    for problem in problems_for(agency, mutate):
        assert problem.pointer == "" or problem.pointer.startswith("/")
        assert re.fullmatch(r"[a-z][a-z0-9_]*", problem.code), problem.code
        assert len(problem.message) >= 40 and PROMPT_VERB.search(problem.message), problem


@pytest.mark.parametrize("agency", [a.value for a in Agency])
def test_a_valid_body_passes_for_every_agency(agency: str) -> None:
    referral = validate_referral(valid_referral(agency, today=TODAY), agency=agency, today=TODAY)
    assert isinstance(referral, ReferralIn)
    assert referral.children[0].voice.views


def test_valid_body_is_normalised() -> None:
    body = valid_referral("police", today=TODAY)
    body["children"][0]["nhs_number"] = "943 476 5919"
    body["children"][0]["address"]["postcode"] = " pe1   1aa "
    body["children"][0]["first_name"] = "  Maya "
    referral = validate_referral(body, agency="police", today=TODAY)
    kid = referral.children[0]
    assert (kid.nhs_number, kid.address.postcode, kid.first_name) == ("9434765919", "PE1 1AA", "Maya")
    assert kid.date_of_birth == dt.date.fromisoformat(body["children"][0]["date_of_birth"])
    assert referral.agency_details == {
        "occurrence_number": "CC-20261130-0042",
        "children_present": True,
        "officer_name": None,
        "officer_collar_number": "4521",
        "crime_reference": None,
        "incident_date": None,
    }


def test_standard_uk_postcode_shapes_and_gir_are_accepted() -> None:
    for postcode, expected in [
        ("gir0aa", "GIR 0AA"),
        ("SW1A1AA", "SW1A 1AA"),
        ("m1 1ae", "M1 1AE"),
        ("B338TH", "B33 8TH"),
    ]:
        body = valid_referral("police", today=TODAY)
        body["children"][0]["address"]["postcode"] = postcode
        assert validate_referral(body, agency="police", today=TODAY).children[0].address.postcode == expected


def test_multi_problem_body_reports_every_problem_at_once() -> None:
    problems = problems_for(MULTI_PROBLEM_AGENCY, MULTI_PROBLEM_MUTATE)
    reported = {(p.pointer, p.code) for p in problems}
    assert set(MULTI_PROBLEM_EXPECTED) <= reported
    assert len(reported) == len(problems), "each (pointer, code) is reported once"


def test_domain_rules_run_even_when_the_shape_is_wrong() -> None:
    body = valid_referral("police", today=TODAY)
    body["immediate_danger"] = "maybe"
    body["children"][0]["voice"] = {"views": "none"}
    body["consent"] = {"status": "not_sought"}
    problems = {(p.pointer, p.code) for p in problems_for("police", lambda b: b.update(body))}
    assert ("/immediate_danger", "wrong_type") in problems
    assert ("/children/0/voice/views", "child_voice_placeholder") in problems
    assert ("/consent/reason", "consent_reason_missing") in problems


def test_pointers_never_contain_personal_data() -> None:
    for _, agency, mutate, _, _ in CASES:
        body = valid_referral(agency, today=TODAY)
        mutate(body)
        personal = [s for s in leaf_strings(body) if len(s) >= 3]
        with pytest.raises(Invalid) as caught:
            validate_referral(copy.deepcopy(body), agency=agency, today=TODAY)
        for problem in caught.value.problems:
            segments = problem.pointer.split("/")
            assert not any(value.strip() in segments for value in personal if value.strip()), problem.pointer


def test_a_valid_unborn_child_passes() -> None:
    body = valid_referral("health", today=TODAY)
    body["children"] = [unborn_child(today=TODAY)]
    referral = validate_referral(body, agency="health", today=TODAY)
    assert referral.children[0].date_of_birth is None
    assert referral.children[0].voice.not_obtained_reason == "unborn"


def test_a_baby_may_be_pre_verbal_and_a_born_child_may_give_nhs_unknown_reason() -> None:
    body = valid_referral("gp", today=TODAY)
    baby = child(today=TODAY, age=1)
    del baby["nhs_number"]
    baby["nhs_number_unknown_reason"] = "Family recently arrived; not yet registered with a GP."
    baby["voice"] = {"not_obtained_reason": "pre_verbal", "explanation": "She is 14 months old and not yet talking."}
    body["children"] = [baby]
    assert validate_referral(body, agency="gp", today=TODAY).children[0].nhs_number is None


def test_attendance_is_not_needed_when_no_child_is_of_school_age() -> None:
    body = valid_referral("early_years", today=TODAY)
    body["children"] = [child(today=TODAY, age=3)]
    del body["agency_details"]["attendance_percent"]
    assert validate_referral(body, agency="early_years", today=TODAY).agency_details["attendance_percent"] is None


def test_school_age_is_judged_on_the_day() -> None:
    body = valid_referral("school", today=TODAY)
    del body["agency_details"]["attendance_percent"]
    body["children"][0]["date_of_birth"] = years_before(TODAY, 16).isoformat()
    validate_referral(copy.deepcopy(body), agency="school", today=TODAY)
    body["children"][0]["date_of_birth"] = years_before(TODAY, 16, days=-1).isoformat()
    with pytest.raises(Invalid):
        validate_referral(body, agency="school", today=TODAY)


def test_unknown_field_prompt_suggests_the_intended_name() -> None:
    problems = problems_for("police", lambda b: b["children"][0].update({"frist_name": "Maya"}))
    (typo,) = [p for p in problems if p.code == "unknown_field"]
    assert typo.pointer == "/children/0/frist_name"
    assert "'first_name'" in typo.message


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(Invalid) as caught:
        validate_referral(["not", "a", "referral"], agency="police", today=TODAY)
    assert [(p.pointer, p.code) for p in caught.value.problems] == [("", "wrong_type")]


def test_pointer_escapes_slash_and_tilde_in_keys() -> None:
    problems = problems_for("police", lambda b: b.update({"a/b~c": 1}))
    assert ("/a~1b~0c", "unknown_field") in {(p.pointer, p.code) for p in problems}


def test_placeholders_are_recognised_but_real_words_are_not() -> None:
    assert is_placeholder("N/A") and is_placeholder("not known. NOT KNOWN") and is_placeholder("...")
    assert not is_placeholder("I don't know why mummy cries at night, I make her tea.")
    assert not is_placeholder("Nothing happened at school, it was at home with Dad.")


def test_unknown_agency_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        validate_referral(valid_referral(today=TODAY), agency="fire_service", today=TODAY)


@pytest.mark.parametrize(
    ("pointer", "pattern"),
    [
        ("/children/0/voice", "/children/*/voice"),
        ("/children/11/voice/views", "/children/*/voice/views"),
        ("/concerns/categories/3", "/concerns/categories/*"),
        ("/household/2/address/postcode", "/household/*/address/postcode"),
        ("/agency_details/attendance_percent", "/agency_details/attendance_percent"),
        ("/referrer", "/referrer"),
        ("", ""),
    ],
)
def test_rejection_pointer_pattern(pointer: str, pattern: str) -> None:
    assert rejection_pointer_pattern(pointer) == pattern
