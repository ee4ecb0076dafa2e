"""Validate a referral body, reporting every problem at once with a pointer, a code and a prompt."""

from __future__ import annotations

import datetime as dt
import inspect
import re
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from schemas.enums import EDUCATION_AGENCIES, HEALTH_AGENCIES, Agency
from schemas.referral_in import AGENCY_DETAILS_MODELS, ReferralIn, parse_iso_date
from triage import validation_messages as messages
from triage.errors import Invalid, Problem

MIN_WORDS_LENGTH = 20
PRE_VERBAL_UNDER_YEARS = 3
SCHOOL_AGE_YEARS = range(5, 16)

# Placeholders referrers type instead of the child's words; compared with case, spaces and punctuation
# removed, and in any repetition or mix ("n/a n/a n/a", "None - see above"), because padding a
# placeholder to reach the minimum length must not get it past the rule.
PLACEHOLDERS = (
    "n/a", "na", "n/k", "nk", "none", "nil", "null", "nothing", "unknown", "not known", "not asked",
    "not applicable", "not recorded", "not obtained", "not available", "no views", "no comment", "no comments",
    "none given", "none stated", "none recorded", "none obtained", "none expressed", "tbc", "tba", "to follow",
    "see above", "as above", "see below", "see notes", "see report", "see attached", "see summary", "see sibling",
    "as sibling", "same as sibling", "same as above", "same", "-", "x", "?", "test", "unable", "not spoken to",
    "did not ask", "didn't ask", "not seen", "etc",
)  # fmt: skip
_PLACEHOLDER_TOKENS = frozenset(filter(None, (re.sub(r"[^a-z0-9]", "", p) for p in PLACEHOLDERS)))

# A pydantic error type -> how the expected JSON type is named in a prompt.
_EXPECTED_TYPES = {
    "string_type": "text",
    "bool_type": "true or false (a JSON boolean, not text)",
    "bool_parsing": "true or false (a JSON boolean, not text)",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "float_type": "a number (not text)",
    "float_parsing": "a number (not text)",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}
_RANGE_BOUNDS = {"greater_than_equal": "ge", "less_than_equal": "le", "greater_than": "gt", "less_than": "lt"}
_BOUND_WORDS = {"ge": "of at least", "le": "of at most", "gt": "above", "lt": "below"}
_MISSING_CODES = {"/children/*/voice": "child_voice_missing", "/children/*/history": "child_history_missing"}
_TOO_SHORT_CODES = {"/children": "children_missing", "/concerns/categories": "concern_category_missing"}


def validate_referral(body: object, *, agency: str, today: dt.date) -> ReferralIn:
    """The referral as the service keeps it, or Invalid listing every problem in the body at once."""
    agency_kind = Agency(agency)
    details_model = AGENCY_DETAILS_MODELS[agency_kind]
    context = {"today": today}
    problems: list[Problem] = []

    # Pass 1: shapes and formats, from the schema.
    referral: ReferralIn | None = None
    try:
        referral = ReferralIn.model_validate(body, context=context)
    except ValidationError as error:
        problems += _translate(error, root=ReferralIn, prefix=(), agency=agency_kind)
    details: BaseModel | None = None
    raw_details = body.get("agency_details") if isinstance(body, dict) else None
    if isinstance(raw_details, dict):
        try:
            details = details_model.model_validate(raw_details, context=context)
        except ValidationError as error:
            problems += _translate(error, root=details_model, prefix=("agency_details",), agency=agency_kind)

    # Pass 2: the domain rules, always, so the referrer sees everything in one answer.
    problems += domain_problems(body, agency=agency_kind, today=today)

    problems = _dedupe(problems)
    if problems or referral is None or details is None:
        raise Invalid(problems=problems)
    return referral.model_copy(update={"agency_details": details.model_dump(mode="json")})


def rejection_pointer_pattern(pointer: str) -> str:
    """The pointer with array indices as *, so rejections are counted per rule without personal data."""
    return "/".join("*" if segment.isascii() and segment.isdigit() else segment for segment in pointer.split("/"))


def json_pointer(path: tuple[str | int, ...]) -> str:
    """An RFC 6901 JSON Pointer for a path of keys and indices."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def is_placeholder(text: str) -> bool:
    """True when text says nothing: empty of letters, or only placeholder words, repeated or mixed."""
    compact = re.sub(r"[^a-z0-9]", "", text.lower())
    # Word break over the placeholder tokens: reachable[i] means compact[:i] is made only of tokens. Only reachable
    # positions are tried, so real text stops at its first letters.
    reachable = [True] + [False] * len(compact)
    for start in range(len(compact)):
        if reachable[start]:
            for token in _PLACEHOLDER_TOKENS:
                if compact.startswith(token, start):
                    reachable[start + len(token)] = True
    return reachable[-1]


def age_on(date_of_birth: dt.date, today: dt.date) -> int:
    """Age in whole years on the given day."""
    return today.year - date_of_birth.year - ((today.month, today.day) < (date_of_birth.month, date_of_birth.day))


# Pass 1: pydantic errors -> problems.


def _translate(
    error: ValidationError, *, root: type[BaseModel], prefix: tuple[str, ...], agency: Agency
) -> list[Problem]:
    problems = []
    for detail in error.errors(include_url=False):
        path = prefix + tuple(detail["loc"])
        pointer = json_pointer(path)
        pattern = rejection_pointer_pattern(pointer)
        code, message = _code_and_message(detail, pattern=pattern, local_loc=tuple(detail["loc"]), root=root)
        if pattern == "/agency_details" and code == "field_missing":
            code = "agency_detail_missing"
            required = _required_fields(AGENCY_DETAILS_MODELS[agency])
            if agency in EDUCATION_AGENCIES:
                required.append("attendance_percent (for a child aged 5 to 15)")
            message = messages.agency_details_missing(agency, required)
        problems.append(Problem(pointer=pointer, code=code, message=message))
    return problems


def _code_and_message(
    detail: ErrorDetails, *, pattern: str, local_loc: tuple[str | int, ...], root: type[BaseModel]
) -> tuple[str, str]:
    kind = detail["type"]
    ctx: Mapping[str, Any] = detail.get("ctx") or {}
    # null, or text that is blank once stripped, is as good as absent: the same prompt serves all three.
    if (
        kind == "missing"
        or kind == "string_too_short"
        or (detail.get("input", ...) is None and kind != "none_required")
    ):
        return _missing_code(pattern), messages.missing(pattern)
    if kind == "extra_forbidden":
        name = str(local_loc[-1])
        return "unknown_field", messages.unknown_field(name, _fields_at(root, local_loc[:-1]))
    if kind in _EXPECTED_TYPES:
        return "wrong_type", messages.wrong_type(pattern, _EXPECTED_TYPES[kind])
    if kind in ("enum", "literal_error"):
        return "value_not_allowed", messages.not_allowed(pattern, str(ctx.get("expected", "the listed values")))
    if kind == "string_too_long":
        return "too_long", messages.too_long(pattern, f"{ctx.get('max_length')} characters")
    if kind == "too_long":
        if pattern == "/children":
            return "too_many_children", messages.DOMAIN_MESSAGES["too_many_children"]
        return "too_many_items", messages.too_long(pattern, f"{ctx.get('max_length')} items")
    if kind == "too_short":
        if pattern in _TOO_SHORT_CODES:
            code = _TOO_SHORT_CODES[pattern]
            return code, messages.DOMAIN_MESSAGES[code]
        return "too_few_items", messages.too_short(pattern, ctx.get("min_length"))
    if kind in _RANGE_BOUNDS:
        limit = ctx.get(_RANGE_BOUNDS[kind])
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        return "out_of_range", messages.out_of_range(pattern, f"{_BOUND_WORDS[_RANGE_BOUNDS[kind]]} {limit}")
    return kind, messages.format_problem(kind, pattern)


def _missing_code(pattern: str) -> str:
    if pattern.startswith("/agency_details/"):
        return "agency_detail_missing"
    return _MISSING_CODES.get(pattern, "field_missing")


def _fields_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The field names the schema allows at a location, to suggest the intended spelling of a typo."""
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if model else None
        model = _model_in(field.annotation) if field else None
    return list(model.model_fields) if model else []


def _model_in(annotation: object) -> type[BaseModel] | None:
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _model_in(argument)
        if found:
            return found
    return None


def _required_fields(model: type[BaseModel]) -> list[str]:
    return [name for name, field in model.model_fields.items() if field.is_required()]


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: dict[tuple[str, str], Problem] = {}
    for problem in problems:
        seen.setdefault((problem.pointer, problem.code), problem)
    return list(seen.values())


# Pass 2: the domain rules, on the raw body, skipping any part whose shape pass 1 already refused.


def domain_problems(body: object, *, agency: Agency, today: dt.date) -> list[Problem]:
    """Problems with the rules of API.md that span fields: voice, history, consent, agency details."""
    if not isinstance(body, dict):
        return []
    return list(_domain_problems(body, agency=agency, today=today))


def _problem(pointer: str, code: str) -> Problem:
    message = messages.DOMAIN_MESSAGES.get(code) or messages.missing(rejection_pointer_pattern(pointer))
    return Problem(pointer=pointer, code=code, message=message)


def _given(value: object) -> bool:
    """A value was supplied: not absent, null or blank text."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def _children(body: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    children = body.get("children")
    if not isinstance(children, list):
        return []
    return [(index, child) for index, child in enumerate(children) if isinstance(child, dict)]


def _domain_problems(body: dict[str, Any], *, agency: Agency, today: dt.date) -> Iterator[Problem]:
    referrer = body.get("referrer")
    if isinstance(referrer, dict) and not (_given(referrer.get("phone")) or _given(referrer.get("email"))):
        yield _problem("/referrer", "referrer_contact_missing")
    for index, child in _children(body):
        base = f"/children/{index}"
        yield from _birth_date_problems(child, base)
        yield from _voice_problems(child, base, today=today)
        yield from _history_problems(child, base)
        if agency in HEALTH_AGENCIES and _given(child.get("date_of_birth")):
            if not (_given(child.get("nhs_number")) or _given(child.get("nhs_number_unknown_reason"))):
                yield _problem(f"{base}/nhs_number", "nhs_number_missing")
    yield from _consent_problems(body.get("consent"))
    details = body.get("agency_details")
    if agency in EDUCATION_AGENCIES and isinstance(details, dict) and not _given(details.get("attendance_percent")):
        if any(_school_age(child, today) for _, child in _children(body)):
            yield _problem("/agency_details/attendance_percent", "agency_detail_missing")


def _birth_date_problems(child: dict[str, Any], base: str) -> Iterator[Problem]:
    born, expected = _given(child.get("date_of_birth")), _given(child.get("expected_date_of_birth"))
    if born and expected:
        yield _problem(f"{base}/expected_date_of_birth", "date_of_birth_conflict")
    elif not born and not expected:
        yield _problem(f"{base}/date_of_birth", "date_of_birth_missing")


def _voice_problems(child: dict[str, Any], base: str, *, today: dt.date) -> Iterator[Problem]:
    voice = child.get("voice")
    pointer = f"{base}/voice"
    if voice is None:
        yield _problem(pointer, "child_voice_missing")
        return
    if not isinstance(voice, dict):
        return
    heard = [key for key in ("views", "how_obtained", "recorded_on") if _given(voice.get(key))]
    not_heard = [key for key in ("not_obtained_reason", "explanation") if _given(voice.get(key))]
    if heard and not_heard:
        yield _problem(pointer, "child_voice_mixed")
    elif heard:
        yield from _words_problems(voice.get("views"), f"{pointer}/views", prefix="child_voice", absent="missing")
        if "how_obtained" not in heard:
            yield _problem(f"{pointer}/how_obtained", "child_voice_how_obtained_missing")
        if "recorded_on" not in heard:
            yield _problem(f"{pointer}/recorded_on", "child_voice_recorded_on_missing")
    elif not_heard:
        yield from _reason_problems(child, voice.get("not_obtained_reason"), pointer, today=today)
        yield from _words_problems(
            voice.get("explanation"), f"{pointer}/explanation", prefix="child_voice_explanation", absent="missing"
        )
    else:
        yield _problem(pointer, "child_voice_missing")


def _words_problems(text: object, pointer: str, *, prefix: str, absent: str) -> Iterator[Problem]:
    """The child's words, or the explanation of their absence: given, not a placeholder, long enough."""
    if not _given(text):
        yield _problem(pointer, f"{prefix}_{absent}")
    elif isinstance(text, str):
        if is_placeholder(text):
            yield _problem(pointer, f"{prefix}_placeholder")
        elif len(" ".join(text.split())) < MIN_WORDS_LENGTH:
            yield _problem(pointer, f"{prefix}_too_short")


def _reason_problems(child: dict[str, Any], reason: object, pointer: str, *, today: dt.date) -> Iterator[Problem]:
    reason_pointer = f"{pointer}/not_obtained_reason"
    if not _given(reason):
        yield _problem(reason_pointer, "child_voice_reason_missing")
    elif reason == "unborn" and not _given(child.get("expected_date_of_birth")):
        yield _problem(reason_pointer, "child_voice_unborn_needs_expected_date")
    elif reason == "pre_verbal":
        born_on = parse_iso_date(child.get("date_of_birth"))
        if born_on is not None and born_on <= today:
            if age_on(born_on, today) >= PRE_VERBAL_UNDER_YEARS:
                yield _problem(reason_pointer, "child_voice_not_pre_verbal")
        elif born_on is None and _given(child.get("expected_date_of_birth")):
            # An unborn child has its own reason; pre_verbal would hide that the child is not yet born.
            yield _problem(reason_pointer, "child_voice_not_pre_verbal")


def _history_problems(child: dict[str, Any], base: str) -> Iterator[Problem]:
    history = child.get("history")
    if history is None:
        yield _problem(f"{base}/history", "child_history_missing")
    elif isinstance(history, dict):
        if history.get("known_to_childrens_services") == "yes" and not _given(history.get("previous_concerns")):
            yield _problem(f"{base}/history/previous_concerns", "previous_concerns_missing")


def _consent_problems(consent: object) -> Iterator[Problem]:
    if not isinstance(consent, dict):
        return
    if consent.get("status") in ("not_obtained", "not_sought") and not _given(consent.get("reason")):
        yield _problem("/consent/reason", "consent_reason_missing")
    if consent.get("family_informed") is False and not _given(consent.get("family_not_informed_reason")):
        yield _problem("/consent/family_not_informed_reason", "family_not_informed_reason_missing")


def _school_age(child: dict[str, Any], today: dt.date) -> bool:
    born_on = parse_iso_date(child.get("date_of_birth"))
    return born_on is not None and age_on(born_on, today) in SCHOOL_AGE_YEARS
