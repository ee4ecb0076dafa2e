"""The accepted body of POST /v1/referrals: shapes and field-level formats only (rules live in triage)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

from schemas.enums import (
    Agency,
    ConcernCategory,
    ConsentStatus,
    CurrentPlan,
    Indicator,
    KnownToChildrensServices,
    RiskOfSeriousHarm,
    VoiceNotObtainedReason,
)
from schemas.text_io import TextIn

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# The shapes of a UK postcode (A9, A99, AA9, AA99, A9A, AA9A outward; 9AA inward) and GIR 0AA. Letter
# restrictions are left out on purpose: refusing a real child's referral over a rare postcode costs more
# than letting a typo through to a practitioner who will check the address anyway.
_POSTCODE = re.compile(r"(GIR 0AA|[A-Z]{1,2}[0-9][0-9A-Z]? [0-9][A-Z]{2})")
_PHONE = re.compile(r"\+?[0-9 ()\-]+((ext\.?|x) ?[0-9]+)?", re.IGNORECASE)


def today_from(info: ValidationInfo) -> dt.date:
    """The day validation is judged against: the caller's `today` in context, else the local date."""
    context = info.context if isinstance(info.context, dict) else {}
    today = context.get("today")
    return today if isinstance(today, dt.date) else dt.date.today()


def parse_iso_date(value: object) -> dt.date | None:
    """A calendar date from a date or a "YYYY-MM-DD" string, else None (datetimes and other forms refused)."""
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _parse_iso_date(value: Any) -> dt.date:
    parsed = parse_iso_date(value)
    if parsed is None:
        raise PydanticCustomError("date_invalid", "Enter a date as YYYY-MM-DD.")
    return parsed


def _not_in_future(value: dt.date, info: ValidationInfo) -> dt.date:
    if value > today_from(info):
        raise PydanticCustomError("date_in_future", "Check the date: it is later than today.")
    return value


def _in_future(value: dt.date, info: ValidationInfo) -> dt.date:
    if value <= today_from(info):
        raise PydanticCustomError("expected_date_not_in_future", "Check the expected date: it is not after today.")
    return value


def nhs_number_is_valid(digits: str) -> bool:
    """True when ten digits carry a correct modulus 11 check digit."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * weight for d, weight in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def _normalise_nhs_number(value: Any) -> Any:
    # A partner system may send the number as a JSON integer; one that lost a leading zero fails the length check.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return value
    digits = re.sub(r"[\s-]", "", value)
    if len(digits) != 10 or not digits.isdigit():
        raise PydanticCustomError("nhs_number_format_invalid", "Enter the NHS number as 10 digits.")
    if not nhs_number_is_valid(digits):
        raise PydanticCustomError("nhs_number_invalid", "Check the NHS number: the check digit does not match.")
    return digits


def normalise_postcode(value: str) -> str:
    """Upper case with a single space before the inward code, or a postcode_invalid error."""
    compact = re.sub(r"\s+", "", value).upper()
    candidate = f"{compact[:-3]} {compact[-3:]}" if len(compact) > 3 else compact
    if not _POSTCODE.fullmatch(candidate):
        raise PydanticCustomError("postcode_invalid", "Enter a UK postcode, such as SW1A 1AA.")
    return candidate


def _check_phone(value: str) -> str:
    if not _PHONE.fullmatch(value) or sum(c.isdigit() for c in value) < 7:
        raise PydanticCustomError("phone_invalid", "Enter a phone number in digits.")
    return value


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


# email-validator refuses addresses at special-use domains (RFC 6761: .test, .local, ...), so the document says so.
EMAIL_JSON_SCHEMA: dict[str, Any] = {
    "format": "email",
    "not": {"pattern": rf"@(.*\.)?({'|'.join(_any_case(name) for name in SPECIAL_USE_DOMAIN_NAMES)})\.?$"},
}


def _check_email(value: str) -> str:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise PydanticCustomError("email_invalid", "Enter a full email address.") from None
    return value


def _blank_to_none(value: str | None) -> str | None:
    # An optional field sent as "" means "nothing to say"; keeping "" would look like an answer.
    return value or None


def _unique(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise PydanticCustomError("duplicate_value", "List each value once.")
    return values


# Optional text: stripped (model config), blank counts as absent; each field sets its own max_length.
OptStr = Annotated[str | None, AfterValidator(_blank_to_none)]
IsoDate = Annotated[dt.date, BeforeValidator(_parse_iso_date)]
PastDate = Annotated[dt.date, AfterValidator(_not_in_future), BeforeValidator(_parse_iso_date)]
FutureDate = Annotated[dt.date, AfterValidator(_in_future), BeforeValidator(_parse_iso_date)]
NhsNumber = Annotated[str, BeforeValidator(_normalise_nhs_number), Field(description="10 digits; spaces allowed")]
Postcode = Annotated[str, Field(max_length=16), AfterValidator(normalise_postcode)]
Phone = Annotated[str, Field(max_length=30), AfterValidator(_check_phone)]
Email = Annotated[str, Field(max_length=254, json_schema_extra=EMAIL_JSON_SCHEMA), AfterValidator(_check_email)]
Percent = Annotated[float, Field(ge=0, le=100, strict=True)]


class _In(TextIn):
    """Base of every inbound shape: unknown fields refused, so a typo never silently loses information."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Address(_In):
    line1: str = Field(min_length=1, max_length=200)
    line2: OptStr = Field(None, max_length=200)
    town: OptStr = Field(None, max_length=100)
    postcode: Postcode


class Referrer(_In):
    name: str = Field(min_length=1, max_length=100)
    role: str = Field(min_length=1, max_length=100)
    phone: Phone | None = None
    email: Email | None = None
    agency_reference: OptStr = Field(None, max_length=100)


class Concerns(_In):
    categories: Annotated[
        list[ConcernCategory], Field(min_length=1, max_length=len(ConcernCategory)), AfterValidator(_unique)
    ]
    summary: str = Field(min_length=1, max_length=10000)
    # Optional lists accept null as "none", as a partner system serialising an empty field may send it.
    indicators: Annotated[list[Indicator], Field(max_length=len(Indicator)), AfterValidator(_unique)] | None = Field(
        default_factory=list
    )


class Voice(_In):
    """Either the child's words (views, how_obtained, recorded_on) or why they could not be heard."""

    views: OptStr = Field(None, max_length=10000)
    how_obtained: OptStr = Field(None, max_length=1000)
    recorded_on: PastDate | None = None
    not_obtained_reason: VoiceNotObtainedReason | None = None
    explanation: OptStr = Field(None, max_length=2000)


class History(_In):
    known_to_childrens_services: KnownToChildrensServices
    current_plan: CurrentPlan
    previous_concerns: OptStr = Field(None, max_length=10000)


class ChildIn(_In):
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    date_of_birth: PastDate | None = None
    expected_date_of_birth: FutureDate | None = None
    gender: OptStr = Field(None, max_length=50)
    nhs_number: NhsNumber | None = None
    nhs_number_unknown_reason: OptStr = Field(None, max_length=500)
    address: Address
    school: OptStr = Field(None, max_length=200)
    first_language: OptStr = Field(None, max_length=100)
    interpreter_required: StrictBool | None = None
    voice: Voice
    history: History


class HouseholdMember(_In):
    name: str = Field(min_length=1, max_length=100)
    relationship: str = Field(min_length=1, max_length=100)
    date_of_birth: PastDate | None = None
    address: Address | None = None
    notes: OptStr = Field(None, max_length=2000)


class Consent(_In):
    status: ConsentStatus
    reason: OptStr = Field(None, max_length=2000)
    family_informed: StrictBool | None = None
    family_not_informed_reason: OptStr = Field(None, max_length=2000)


class ReferralIn(_In):
    referrer: Referrer
    immediate_danger: StrictBool
    concerns: Concerns
    children: Annotated[list[ChildIn], Field(min_length=1, max_length=12)]
    household: Annotated[list[HouseholdMember], Field(max_length=50)] | None = Field(default_factory=list)
    consent: Consent
    # Its shape depends on the referring organisation's agency, so triage validates it with the model below.
    agency_details: dict[str, Any]


class PoliceDetails(_In):
    occurrence_number: str = Field(min_length=1, max_length=50)
    children_present: StrictBool
    officer_name: OptStr = Field(None, max_length=100)
    officer_collar_number: OptStr = Field(None, max_length=20)
    crime_reference: OptStr = Field(None, max_length=50)
    incident_date: PastDate | None = None


class HealthDetails(_In):
    service_name: str = Field(min_length=1, max_length=200)
    practitioner_name: OptStr = Field(None, max_length=100)
    practitioner_role: OptStr = Field(None, max_length=100)
    gp_practice: OptStr = Field(None, max_length=200)
    notes: OptStr = Field(None, max_length=2000)


class JusticeDetails(_In):
    person_on_probation: str = Field(min_length=1, max_length=100)
    relationship_to_child: str = Field(min_length=1, max_length=100)
    risk_of_serious_harm: RiskOfSeriousHarm
    case_reference: OptStr = Field(None, max_length=50)
    offence_summary: OptStr = Field(None, max_length=2000)


class EducationDetails(_In):
    designated_safeguarding_lead: str = Field(min_length=1, max_length=100)
    # Required only when a child is of compulsory school age on the day, which triage knows.
    attendance_percent: Percent | None = None
    setting_name: OptStr = Field(None, max_length=200)
    notes: OptStr = Field(None, max_length=2000)


class OtherDetails(_In):
    service_name: OptStr = Field(None, max_length=200)
    contact_name: OptStr = Field(None, max_length=100)
    notes: OptStr = Field(None, max_length=2000)


AGENCY_DETAILS_MODELS: dict[Agency, type[_In]] = {
    Agency.police: PoliceDetails,
    Agency.health: HealthDetails,
    Agency.gp: HealthDetails,
    Agency.dental: HealthDetails,
    Agency.probation: JusticeDetails,
    Agency.youth_justice: JusticeDetails,
    Agency.school: EducationDetails,
    Agency.early_years: EducationDetails,
    Agency.housing: OtherDetails,
    Agency.local_authority: OtherDetails,
    Agency.voluntary: OtherDetails,
    Agency.other: OtherDetails,
}
