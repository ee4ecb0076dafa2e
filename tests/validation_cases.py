"""Referral bodies for tests at any layer: a valid body per agency, and one case per validation rule."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

from schemas.enums import Agency

Mutate = Callable[[dict[str, Any]], None]

_serial = itertools.count(1)
# The cases are built for "today" at import; their dates sit a month from it, so a test at another layer
# whose clock says a slightly different day (UTC against Europe/London, a run across midnight) agrees.
TODAY_FOR_CASES = dt.date.today()


def years_before(today: dt.date, years: int, *, days: int = 0) -> dt.date:
    """The same day of the year `years` before today (28 Feb for 29 Feb), then `days` earlier still."""
    try:
        day = today.replace(year=today.year - years)
    except ValueError:
        day = today.replace(year=today.year - years, day=28)
    return day - dt.timedelta(days=days)


def nhs_number(serial: int) -> str:
    """A valid NHS number in the 999 test range, different for every serial."""
    for candidate in itertools.count(serial * 11):
        digits = f"999{candidate % 1_000_000:06d}"
        total = sum(int(d) * w for d, w in zip(digits, range(10, 1, -1), strict=True))
        check = (11 - total % 11) % 11
        if check != 10:
            return f"{digits}{check}"
    raise AssertionError("unreachable")


def child(*, today: dt.date, age: int = 9, first_name: str = "Maya") -> dict[str, Any]:
    """A born child who was heard, with a unique surname and NHS number so no two tests match."""
    serial = next(_serial)
    return {
        "first_name": first_name,
        "last_name": f"Testcase-{serial:06d}",
        "date_of_birth": years_before(today, age, days=40).isoformat(),
        "gender": "female",
        "nhs_number": nhs_number(serial),
        "address": {"line1": "12 Example Road", "town": "Peterborough", "postcode": "PE1 1AA"},
        "school": "Example Primary School",
        "first_language": "English",
        "interpreter_required": False,
        "voice": {
            "views": "I don't like going home when Dad has been drinking, he shouts and breaks things.",
            "how_obtained": "Spoken to alone in the school office by her class teacher",
            "recorded_on": (today - dt.timedelta(days=1)).isoformat(),
        },
        "history": {"known_to_childrens_services": "no", "current_plan": "none"},
    }


def unborn_child(*, today: dt.date) -> dict[str, Any]:
    """An unborn child: expected date of birth, mother's surname, voice not obtainable."""
    return {
        "first_name": "Unborn",
        "last_name": f"Testcase-{next(_serial):06d}",
        "expected_date_of_birth": (today + dt.timedelta(days=90)).isoformat(),
        "address": {"line1": "12 Example Road", "postcode": "PE1 1AA"},
        "voice": {
            "not_obtained_reason": "unborn",
            "explanation": "The baby is not yet born; mother is 27 weeks pregnant.",
        },
        "history": {"known_to_childrens_services": "no", "current_plan": "none"},
    }


AGENCY_DETAILS: dict[str, dict[str, Any]] = {
    "police": {"occurrence_number": "CC-20261130-0042", "children_present": True, "officer_collar_number": "4521"},
    "health": {"service_name": "Health visiting, North locality"},
    "gp": {"service_name": "Example Street Surgery"},
    "dental": {"service_name": "Example Dental Practice"},
    "probation": {
        "person_on_probation": "Dean Example",
        "relationship_to_child": "father",
        "risk_of_serious_harm": "high",
    },
    "youth_justice": {
        "person_on_probation": "Kyle Example",
        "relationship_to_child": "brother",
        "risk_of_serious_harm": "medium",
    },
    "school": {"designated_safeguarding_lead": "Mrs J Example", "attendance_percent": 82.5},
    "early_years": {"designated_safeguarding_lead": "Ms K Example", "attendance_percent": 90},
    "housing": {"service_name": "Housing options", "notes": "Family in temporary accommodation."},
    "local_authority": {"service_name": "Early help hub"},
    "voluntary": {"service_name": "Example Family Support", "contact_name": "Sam Example"},
    "other": {},
}


def valid_referral(agency: str = "police", *, today: dt.date) -> dict[str, Any]:
    """A complete valid body for the agency, with a fresh child every call."""
    return {
        "referrer": {
            "name": "Alex Referrer",
            "role": "Designated officer",
            "phone": "01632 960000",
            "email": "alex.referrer@example.org",
            "agency_reference": "REF-1",
        },
        "immediate_danger": False,
        "concerns": {
            "categories": ["domestic_abuse", "neglect"],
            "indicators": ["child_witnessed_abuse"],
            "summary": "Police called to a domestic incident at the family home; the child was present and upset.",
        },
        "children": [child(today=today)],
        "household": [{"name": "Dean Example", "relationship": "father", "date_of_birth": "1988-02-03"}],
        "consent": {
            "status": "not_sought",
            "reason": "Seeking consent could increase the risk to the child.",
            "family_informed": True,
        },
        "agency_details": dict(AGENCY_DETAILS[Agency(agency)]),
    }


# Small mutators, so each case reads as one line.


def setting(path: str, value: Any) -> Mutate:
    """Set a value at a slash path ("children/0/voice/views"), creating nothing else."""

    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = body
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


def removing(path: str) -> Mutate:
    """Delete the value at a slash path."""

    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = body
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        del target[last]

    return mutate


def both(*mutations: Mutate) -> Mutate:
    """Apply several mutations in order."""

    def mutate(body: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(body)

    return mutate


def _children(count: int) -> Mutate:
    def mutate(body: dict[str, Any]) -> None:
        body["children"] = [child(today=TODAY_FOR_CASES) for _ in range(count)]

    return mutate


def _second_child(extra: Mutate) -> Mutate:
    def mutate(body: dict[str, Any]) -> None:
        body["children"].append(child(today=TODAY_FOR_CASES, first_name="Leo"))
        extra(body)

    return mutate


T = TODAY_FOR_CASES
V = "children/0/voice"
NOT_HEARD = {"not_obtained_reason": "not_seen", "explanation": "The child was asleep upstairs when officers attended."}
IN_A_MONTH = (T + dt.timedelta(days=30)).isoformat()
A_MONTH_AGO = (T - dt.timedelta(days=30)).isoformat()

# (case id, agency, mutate(body) in place, expected pointer, expected code), for a body from
# valid_referral(agency, today=TODAY_FOR_CASES).
CASES: list[tuple[str, str, Mutate, str, str]] = [
    # The child's voice.
    ("voice_missing", "police", removing(V), "/children/0/voice", "child_voice_missing"),
    ("voice_null", "police", setting(V, None), "/children/0/voice", "child_voice_missing"),
    ("voice_empty", "police", setting(V, {}), "/children/0/voice", "child_voice_missing"),
    ("voice_views_blank", "police", setting(f"{V}/views", "   "), "/children/0/voice/views", "child_voice_missing"),
    ("voice_too_short", "police", setting(f"{V}/views", "He is sad."), "/children/0/voice/views",
     "child_voice_too_short"),
    ("voice_placeholder_na", "police", setting(f"{V}/views", "n/a"), "/children/0/voice/views",
     "child_voice_placeholder"),
    ("voice_placeholder_none", "police", setting(f"{V}/views", "NONE."), "/children/0/voice/views",
     "child_voice_placeholder"),
    ("voice_placeholder_not_asked", "police", setting(f"{V}/views", "Not asked"), "/children/0/voice/views",
     "child_voice_placeholder"),
    ("voice_placeholder_padded", "police", setting(f"{V}/views", "n/a n/a n/a n/a n/a n/a"),
     "/children/0/voice/views", "child_voice_placeholder"),
    ("voice_placeholder_mixed", "police", setting(f"{V}/views", "None - see above, see above, N/K."),
     "/children/0/voice/views", "child_voice_placeholder"),
    ("voice_placeholder_dashes", "police", setting(f"{V}/views", "-------------------------"),
     "/children/0/voice/views", "child_voice_placeholder"),
    ("voice_placeholder_unknown", "police", setting(f"{V}/views", "  Unknown  "), "/children/0/voice/views",
     "child_voice_placeholder"),
    ("voice_how_obtained_missing", "police", removing(f"{V}/how_obtained"), "/children/0/voice/how_obtained",
     "child_voice_how_obtained_missing"),
    ("voice_recorded_on_missing", "police", removing(f"{V}/recorded_on"), "/children/0/voice/recorded_on",
     "child_voice_recorded_on_missing"),
    ("voice_recorded_on_malformed", "police", setting(f"{V}/recorded_on", "29/11/2026"),
     "/children/0/voice/recorded_on", "date_invalid"),
    ("voice_recorded_on_future", "police", setting(f"{V}/recorded_on", IN_A_MONTH), "/children/0/voice/recorded_on",
     "date_in_future"),
    ("voice_mixed", "police", setting(f"{V}/not_obtained_reason", "declined"), "/children/0/voice",
     "child_voice_mixed"),
    ("voice_reason_unknown_value", "police", setting(V, {**NOT_HEARD, "not_obtained_reason": "too_busy"}),
     "/children/0/voice/not_obtained_reason", "value_not_allowed"),
    ("voice_reason_without_explanation", "police", setting(V, {"not_obtained_reason": "not_seen"}),
     "/children/0/voice/explanation", "child_voice_explanation_missing"),
    ("voice_explanation_too_short", "police", setting(V, {**NOT_HEARD, "explanation": "Asleep."}),
     "/children/0/voice/explanation", "child_voice_explanation_too_short"),
    ("voice_explanation_placeholder", "police", setting(V, {**NOT_HEARD, "explanation": "n/a n/a n/a n/a n/a n/a"}),
     "/children/0/voice/explanation", "child_voice_explanation_placeholder"),
    ("voice_explanation_without_reason", "police", setting(V, {"explanation": NOT_HEARD["explanation"]}),
     "/children/0/voice/not_obtained_reason", "child_voice_reason_missing"),
    ("voice_pre_verbal_five_year_old", "police",
     both(setting("children/0/date_of_birth", years_before(T, 5, days=30).isoformat()),
          setting(V, {**NOT_HEARD, "not_obtained_reason": "pre_verbal"})),
     "/children/0/voice/not_obtained_reason", "child_voice_not_pre_verbal"),
    ("voice_unborn_without_expected_date", "police", setting(V, {**NOT_HEARD, "not_obtained_reason": "unborn"}),
     "/children/0/voice/not_obtained_reason", "child_voice_unborn_needs_expected_date"),
    ("voice_unknown_field", "police", setting(f"{V}/view", "typo"), "/children/0/voice/view", "unknown_field"),
    ("voice_second_child", "police", _second_child(removing("children/1/voice")), "/children/1/voice",
     "child_voice_missing"),
    # Dates of birth.
    ("both_birth_dates", "police", setting("children/0/expected_date_of_birth", IN_A_MONTH),
     "/children/0/expected_date_of_birth", "date_of_birth_conflict"),
    ("no_birth_date", "police", removing("children/0/date_of_birth"), "/children/0/date_of_birth",
     "date_of_birth_missing"),
    ("future_date_of_birth", "police", setting("children/0/date_of_birth", IN_A_MONTH), "/children/0/date_of_birth",
     "date_in_future"),
    ("past_expected_date", "police",
     both(removing("children/0/date_of_birth"), setting("children/0/expected_date_of_birth", A_MONTH_AGO),
          setting(V, {"not_obtained_reason": "unborn", "explanation": "Not yet born at the time of referral."})),
     "/children/0/expected_date_of_birth", "expected_date_not_in_future"),
    ("impossible_date_of_birth", "police", setting("children/0/date_of_birth", "2015-13-45"),
     "/children/0/date_of_birth", "date_invalid"),
    ("datetime_as_date_of_birth", "police", setting("children/0/date_of_birth", "2015-01-01T00:00:00"),
     "/children/0/date_of_birth", "date_invalid"),
    # Identity and address.
    ("nhs_check_digit", "police", setting("children/0/nhs_number", "943 476 5918"), "/children/0/nhs_number",
     "nhs_number_invalid"),
    ("nhs_wrong_length", "police", setting("children/0/nhs_number", "94347659"), "/children/0/nhs_number",
     "nhs_number_format_invalid"),
    ("nhs_letters", "police", setting("children/0/nhs_number", "ABC4765919"), "/children/0/nhs_number",
     "nhs_number_format_invalid"),
    ("postcode_invalid", "police", setting("children/0/address/postcode", "PE1"), "/children/0/address/postcode",
     "postcode_invalid"),
    ("postcode_missing", "police", removing("children/0/address/postcode"), "/children/0/address/postcode",
     "field_missing"),
    ("first_name_blank", "police", setting("children/0/first_name", "   "), "/children/0/first_name", "field_missing"),
    ("first_name_too_long", "police", setting("children/0/first_name", "A" * 101), "/children/0/first_name",
     "too_long"),
    ("interpreter_not_boolean", "police", setting("children/0/interpreter_required", "yes"),
     "/children/0/interpreter_required", "wrong_type"),
    # Unknown fields.
    ("unknown_top_level", "police", setting("urgent", True), "/urgent", "unknown_field"),
    ("unknown_in_child", "police", setting("children/0/middle_name", "Rose"), "/children/0/middle_name",
     "unknown_field"),
    ("unknown_in_referrer", "police", setting("referrer/phone_number", "01632 960001"), "/referrer/phone_number",
     "unknown_field"),
    ("unknown_in_agency_details", "police", setting("agency_details/occurence_number", "CC-1"),
     "/agency_details/occurence_number", "unknown_field"),
    ("unknown_in_other_details", "housing", setting("agency_details/tenancy", "council"), "/agency_details/tenancy",
     "unknown_field"),
    # Children.
    ("no_children", "police", setting("children", []), "/children", "children_missing"),
    ("thirteen_children", "police", _children(13), "/children", "too_many_children"),
    # History.
    ("history_missing", "police", removing("children/0/history"), "/children/0/history", "child_history_missing"),
    ("history_known_without_previous", "police", setting("children/0/history/known_to_childrens_services", "yes"),
     "/children/0/history/previous_concerns", "previous_concerns_missing"),
    ("history_bad_known", "police", setting("children/0/history/known_to_childrens_services", "maybe"),
     "/children/0/history/known_to_childrens_services", "value_not_allowed"),
    ("history_bad_plan", "police", setting("children/0/history/current_plan", "cp"),
     "/children/0/history/current_plan", "value_not_allowed"),
    ("history_plan_missing", "police", removing("children/0/history/current_plan"),
     "/children/0/history/current_plan", "field_missing"),
    # Consent.
    ("consent_not_obtained_no_reason", "police", setting("consent", {"status": "not_obtained"}), "/consent/reason",
     "consent_reason_missing"),
    ("consent_not_sought_blank_reason", "police", setting("consent/reason", ""), "/consent/reason",
     "consent_reason_missing"),
    ("family_not_informed_no_reason", "police", setting("consent/family_informed", False),
     "/consent/family_not_informed_reason", "family_not_informed_reason_missing"),
    ("consent_bad_status", "police", setting("consent/status", "refused"), "/consent/status", "value_not_allowed"),
    ("consent_missing", "police", removing("consent"), "/consent", "field_missing"),
    # Agency details.
    ("police_no_occurrence", "police", removing("agency_details/occurrence_number"),
     "/agency_details/occurrence_number", "agency_detail_missing"),
    ("police_no_children_present", "police", removing("agency_details/children_present"),
     "/agency_details/children_present", "agency_detail_missing"),
    ("police_children_present_text", "police", setting("agency_details/children_present", "yes"),
     "/agency_details/children_present", "wrong_type"),
    ("health_no_service", "health", removing("agency_details/service_name"), "/agency_details/service_name",
     "agency_detail_missing"),
    ("gp_child_without_nhs", "gp", removing("children/0/nhs_number"), "/children/0/nhs_number",
     "nhs_number_missing"),
    ("dental_second_child_without_nhs", "dental", _second_child(removing("children/1/nhs_number")),
     "/children/1/nhs_number", "nhs_number_missing"),
    ("probation_no_risk", "probation", removing("agency_details/risk_of_serious_harm"),
     "/agency_details/risk_of_serious_harm", "agency_detail_missing"),
    ("probation_no_person", "probation", removing("agency_details/person_on_probation"),
     "/agency_details/person_on_probation", "agency_detail_missing"),
    ("youth_justice_no_relationship", "youth_justice", removing("agency_details/relationship_to_child"),
     "/agency_details/relationship_to_child", "agency_detail_missing"),
    ("youth_justice_bad_risk", "youth_justice", setting("agency_details/risk_of_serious_harm", "extreme"),
     "/agency_details/risk_of_serious_harm", "value_not_allowed"),
    ("school_no_dsl", "school", removing("agency_details/designated_safeguarding_lead"),
     "/agency_details/designated_safeguarding_lead", "agency_detail_missing"),
    ("school_no_attendance_for_school_age", "school", removing("agency_details/attendance_percent"),
     "/agency_details/attendance_percent", "agency_detail_missing"),
    ("early_years_attendance_over_100", "early_years", setting("agency_details/attendance_percent", 120),
     "/agency_details/attendance_percent", "out_of_range"),
    ("school_attendance_negative", "school", setting("agency_details/attendance_percent", -5),
     "/agency_details/attendance_percent", "out_of_range"),
    ("school_attendance_text", "school", setting("agency_details/attendance_percent", "82%"),
     "/agency_details/attendance_percent", "wrong_type"),
    ("agency_details_missing", "housing", removing("agency_details"), "/agency_details", "agency_detail_missing"),
    ("agency_details_not_object", "police", setting("agency_details", ["CC-1"]), "/agency_details", "wrong_type"),
    # Referrer.
    ("referrer_no_contact", "police", both(removing("referrer/phone"), removing("referrer/email")), "/referrer",
     "referrer_contact_missing"),
    ("referrer_bad_email", "police", setting("referrer/email", "alex at example"), "/referrer/email", "email_invalid"),
    ("referrer_bad_phone", "police", setting("referrer/phone", "call me"), "/referrer/phone", "phone_invalid"),
    ("referrer_no_name", "police", removing("referrer/name"), "/referrer/name", "field_missing"),
    # Concerns and the rest of the body.
    ("categories_empty", "police", setting("concerns/categories", []), "/concerns/categories",
     "concern_category_missing"),
    ("category_unknown", "police", setting("concerns/categories", ["abuse"]), "/concerns/categories/0",
     "value_not_allowed"),
    ("category_repeated", "police", setting("concerns/categories", ["neglect", "neglect"]), "/concerns/categories",
     "duplicate_value"),
    ("indicator_unknown", "police", setting("concerns/indicators", ["bruises"]), "/concerns/indicators/0",
     "value_not_allowed"),
    ("summary_missing", "police", removing("concerns/summary"), "/concerns/summary", "field_missing"),
    ("immediate_danger_text", "police", setting("immediate_danger", "no"), "/immediate_danger", "wrong_type"),
    ("immediate_danger_missing", "police", removing("immediate_danger"), "/immediate_danger", "field_missing"),
    ("household_no_relationship", "police", removing("household/0/relationship"), "/household/0/relationship",
     "field_missing"),
    ("household_future_birth", "police", setting("household/0/date_of_birth", IN_A_MONTH),
     "/household/0/date_of_birth", "date_in_future"),
]  # fmt: skip

# Several problems in one body: every one must be reported in the same answer.
MULTI_PROBLEM_AGENCY = "police"
MULTI_PROBLEM_MUTATE: Mutate = both(
    setting(f"{V}/views", "n/a"),
    removing(f"{V}/recorded_on"),
    setting("children/0/nhs_number", "943 476 5918"),
    setting("children/0/address/postcode", "NOT A POSTCODE"),
    setting("consent", {"status": "not_obtained", "family_informed": False}),
    removing("agency_details/occurrence_number"),
    setting("colour", "blue"),
    removing("referrer/phone"),
    removing("referrer/email"),
)
MULTI_PROBLEM_EXPECTED: list[tuple[str, str]] = [
    ("/children/0/voice/views", "child_voice_placeholder"),
    ("/children/0/voice/recorded_on", "child_voice_recorded_on_missing"),
    ("/children/0/nhs_number", "nhs_number_invalid"),
    ("/children/0/address/postcode", "postcode_invalid"),
    ("/consent/reason", "consent_reason_missing"),
    ("/consent/family_not_informed_reason", "family_not_informed_reason_missing"),
    ("/agency_details/occurrence_number", "agency_detail_missing"),
    ("/colour", "unknown_field"),
    ("/referrer", "referrer_contact_missing"),
]
