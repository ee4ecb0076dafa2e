"""The prompts a referrer reads when a referral is refused: what to record, and why it matters."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldText:
    """How a field is named in a sentence, and the prompt shown when it is missing."""

    label: str
    prompt: str


VOICE_PROMPT = (
    "Record the child's own words about what is happening to them (at least 20 characters), how they were "
    "obtained and when. If the child could not be heard, give not_obtained_reason and an explanation instead."
)

# Keyed by pointer pattern (array indices as *), then by bare field name as a fallback.
FIELDS: dict[str, FieldText] = {
    "": FieldText(
        "the referral",
        "Give the referral as one JSON object with referrer, immediate_danger, concerns, children, consent and "
        "agency_details.",
    ),
    "/referrer": FieldText(
        "the referrer",
        "Give your details as the referrer (name, role, and a phone number or email address), so the hub can ask you "
        "questions and tell you the decision.",
    ),
    "/referrer/name": FieldText(
        "your name",
        "Give your name, so the hub knows who made the referral and whom to tell about the decision.",
    ),
    "/referrer/role": FieldText(
        "your role",
        'Give your role (for example "response officer" or "school nurse"), so the hub can weigh what you saw and '
        "know what you can do next.",
    ),
    "/referrer/phone": FieldText(
        "your phone number",
        "Give a phone number the hub can reach you on today, in case a quick question would help keep the child safe.",
    ),
    "/referrer/email": FieldText(
        "your email address",
        "Give an email address the hub can send questions and the decision to.",
    ),
    "/immediate_danger": FieldText(
        "whether a child is in immediate danger",
        "Say whether any child is in immediate danger right now (true or false). If one is, also call the police on "
        "999: this service is not an emergency line.",
    ),
    "/concerns": FieldText(
        "the concerns",
        "Give the concerns: at least one category and a summary of what has happened, so the hub can judge the risk "
        "to each child.",
    ),
    "/concerns/categories": FieldText(
        "the concern categories",
        "Choose at least one concern category (for example neglect or domestic_abuse), so the right threshold rules "
        "are applied.",
    ),
    "/concerns/summary": FieldText(
        "the summary of concerns",
        "Record what has happened, when, and who was involved, so the hub can judge the risk without having to call "
        "you first.",
    ),
    "/concerns/categories/*": FieldText("each concern category", "Choose each concern category from the list."),
    "/concerns/indicators/*": FieldText("each indicator", "Choose each indicator from the list."),
    "/concerns/indicators": FieldText(
        "the indicators",
        "Choose the indicators you saw (for example injury or home_conditions_poor), or leave the list out if there "
        "are none.",
    ),
    "/children": FieldText(
        "the children",
        "Add every child the referral is about (1 to 12; brothers and sisters go in one referral), so each child gets"
        " their own rating and outcome.",
    ),
    "/children/*": FieldText(
        "the child",
        "Give the child's details: name, date of birth, address, their voice and their history.",
    ),
    "/children/*/first_name": FieldText(
        "the child's first name",
        'Give the child\'s first name (an unborn child may use "Unborn"), so the hub can find any earlier referrals '
        "about them.",
    ),
    "/children/*/last_name": FieldText(
        "the child's last name",
        "Give the child's last name (for an unborn child, the mother's surname), so the hub can find any earlier "
        "referrals about them.",
    ),
    "/children/*/date_of_birth": FieldText(
        "the child's date of birth",
        "Give the child's date_of_birth (YYYY-MM-DD), or expected_date_of_birth if the child is not yet born: age "
        "decides which rules and services apply.",
    ),
    "/children/*/expected_date_of_birth": FieldText(
        "the expected date of birth",
        "Give the unborn child's expected_date_of_birth (YYYY-MM-DD), so pre-birth support can start in time.",
    ),
    "/children/*/nhs_number": FieldText(
        "the NHS number",
        "Give the child's NHS number (10 digits, for example 943 476 5919), or say in nhs_number_unknown_reason why "
        "you do not have it: it is the surest way to match the child's health records.",
    ),
    "/children/*/nhs_number_unknown_reason": FieldText(
        "why the NHS number is unknown",
        "Say why you do not have the child's NHS number (for example, not registered with a GP).",
    ),
    "/children/*/address": FieldText(
        "the child's address",
        "Give the address where the child lives now (line1 and postcode), so the right local services can respond.",
    ),
    "/children/*/school": FieldText(
        "the child's school",
        "Give the name of the child's school or nursery, so the hub can ask staff who see the child every day.",
    ),
    "/children/*/interpreter_required": FieldText(
        "whether an interpreter is needed",
        "Say whether the child or family needs an interpreter (true or false).",
    ),
    "/children/*/voice": FieldText("the child's voice", VOICE_PROMPT),
    "/children/*/voice/views": FieldText("the child's views", VOICE_PROMPT),
    "/children/*/voice/how_obtained": FieldText(
        "how the child's views were obtained",
        'Say how you heard the child\'s views (for example "spoke to her alone at school"), so the hub can judge how '
        "freely they were given.",
    ),
    "/children/*/voice/recorded_on": FieldText(
        "the date the child's views were recorded",
        "Give the date you heard the child's views (YYYY-MM-DD), so the hub knows how recent they are.",
    ),
    "/children/*/voice/not_obtained_reason": FieldText(
        "why the child could not be heard",
        "Choose why the child could not be heard: unborn, pre_verbal, not_seen, seen_not_spoken_to, unsafe_to_ask, "
        "declined or other.",
    ),
    "/children/*/voice/explanation": FieldText(
        "the explanation",
        "Explain in at least 20 characters why the child could not be heard and what would help to hear them. Give it"
        " in explanation, so the hub can plan how to hear from the child.",
    ),
    "/children/*/history": FieldText(
        "the child's history",
        "Tell us what you know of the child's history with children's services (known_to_childrens_services and "
        "current_plan), so escalating risk is seen.",
    ),
    "/children/*/history/known_to_childrens_services": FieldText(
        "whether the child is known to children's services",
        "Say whether the child is known to children's services: yes, no or unknown. History shows whether risk is "
        "escalating.",
    ),
    "/children/*/history/current_plan": FieldText(
        "the child's current plan",
        "Say what plan the child is on now: none, child_in_need, child_protection, looked_after or unknown. A new "
        "concern for a child on a plan is urgent.",
    ),
    "/children/*/history/previous_concerns": FieldText(
        "the previous concerns",
        "Record the earlier concerns you know of (what, roughly when, who was involved): the child is known to "
        "children's services, and history shows whether risk is escalating.",
    ),
    "/household": FieldText("the household", "Give the other people in the child's household as a list."),
    "/household/*/name": FieldText(
        "the household member's name",
        "Give the name of each person in the household, so the hub can check what is known about them.",
    ),
    "/household/*/relationship": FieldText(
        "the relationship to the child",
        "Say how each household member is related to the child (for example mother, stepfather, lodger).",
    ),
    "/household/*/date_of_birth": FieldText(
        "the household member's date of birth",
        "Give the household member's date of birth (YYYY-MM-DD) if you know it.",
    ),
    "/consent": FieldText(
        "consent",
        "Give consent: status (obtained, not_obtained or not_sought), and if not obtained, the reason, so the hub "
        "knows how to approach the family.",
    ),
    "/consent/status": FieldText(
        "the consent status",
        "Choose the consent status: obtained, not_obtained or not_sought.",
    ),
    "/consent/reason": FieldText(
        "the reason for no consent",
        "Give the reason consent was not obtained or not sought (for example, asking would put the child at risk), so"
        " the hub can decide how to approach the family.",
    ),
    "/consent/family_informed": FieldText(
        "whether the family has been told",
        "Say whether the family has been told about this referral (true or false).",
    ),
    "/consent/family_not_informed_reason": FieldText(
        "why the family has not been told",
        "Say why the family has not been told about this referral: telling them would increase the risk to the child,"
        " obstruct a police investigation, or cause undue delay.",
    ),
    "/agency_details": FieldText(
        "agency_details",
        "Add to agency_details what your agency must include in a referral (for example the police occurrence number).",
    ),
    "/agency_details/occurrence_number": FieldText(
        "the police occurrence number",
        "Give the police occurrence number for the incident, so the hub can read the police log.",
    ),
    "/agency_details/children_present": FieldText(
        "whether children were present",
        "Say whether children were present at the incident (true or false): witnessing abuse harms children.",
    ),
    "/agency_details/incident_date": FieldText("the incident date", "Give the date of the incident (YYYY-MM-DD)."),
    "/agency_details/service_name": FieldText(
        "the service name",
        'Give the name of your health service (for example "Health visiting, North locality"), so the hub knows whom '
        "to ask.",
    ),
    "/agency_details/person_on_probation": FieldText(
        "the person on probation",
        "Give the name of the person on probation or under youth justice supervision.",
    ),
    "/agency_details/relationship_to_child": FieldText(
        "their relationship to the child",
        "Say how the person on probation is related to the child (for example father, mother's partner).",
    ),
    "/agency_details/risk_of_serious_harm": FieldText(
        "the risk of serious harm",
        "Give the assessed risk of serious harm of the person on probation: low, medium, high or very_high.",
    ),
    "/agency_details/designated_safeguarding_lead": FieldText(
        "the designated safeguarding lead",
        "Give the name of your designated safeguarding lead, so the hub can speak to the person who knows the child.",
    ),
    "/agency_details/attendance_percent": FieldText(
        "the attendance percentage",
        "Give the child's attendance this school year as a percentage from 0 to 100: a child of school age missing "
        "school is often the first sign of neglect.",
    ),
    "line1": FieldText("the first line of the address", "Give the first line of the address (house and street)."),
    "postcode": FieldText(
        "the postcode",
        "Give the postcode of the address, such as SW1A 1AA, so the hub knows which area's services are responsible.",
    ),
}

# Codes of problems found by the domain rules, each with its prompt.
DOMAIN_MESSAGES: dict[str, str] = {
    "child_voice_missing": VOICE_PROMPT,
    "child_voice_too_short": (
        "Record more of the child's own words about what is happening to them: at least 20 characters, in the "
        "words they used. If the child could not be heard, give not_obtained_reason and an explanation instead."
    ),
    "child_voice_placeholder": (
        'Record the child\'s own words instead of a placeholder such as "n/a", "none" or "not asked" (at least '
        "20 characters). If the child could not be heard, give not_obtained_reason and an explanation instead."
    ),
    "child_voice_how_obtained_missing": FIELDS["/children/*/voice/how_obtained"].prompt,
    "child_voice_recorded_on_missing": FIELDS["/children/*/voice/recorded_on"].prompt,
    "child_voice_mixed": (
        "Give either the child's words (views, how_obtained, recorded_on) or why they could not be heard "
        "(not_obtained_reason, explanation), not both, so it is clear whether the child was heard."
    ),
    "child_voice_reason_missing": (
        "Choose not_obtained_reason to go with the explanation: unborn, pre_verbal, not_seen, seen_not_spoken_to, "
        "unsafe_to_ask, declined or other."
    ),
    "child_voice_unborn_needs_expected_date": (
        "Use not_obtained_reason unborn only for a child not yet born, and give their expected_date_of_birth. For a "
        "born child, record their views or choose another reason."
    ),
    "child_voice_not_pre_verbal": (
        "Choose another reason or record the child's views: pre_verbal applies only to a child under 3 by their "
        "date_of_birth. Older children can usually be heard, through play, drawing or a trusted adult."
    ),
    "child_voice_explanation_missing": FIELDS["/children/*/voice/explanation"].prompt,
    "child_voice_explanation_too_short": (
        "Give more explanation (at least 20 characters) of why the child could not be heard and what would help to "
        "hear them, so the hub can plan how to hear from the child."
    ),
    "child_voice_explanation_placeholder": (
        'Give a real explanation instead of a placeholder such as "n/a": say why the child could not be heard and '
        "what would help to hear them (at least 20 characters)."
    ),
    "child_history_missing": FIELDS["/children/*/history"].prompt,
    "previous_concerns_missing": FIELDS["/children/*/history/previous_concerns"].prompt,
    "consent_reason_missing": FIELDS["/consent/reason"].prompt,
    "family_not_informed_reason_missing": FIELDS["/consent/family_not_informed_reason"].prompt,
    "referrer_contact_missing": (
        "Give a phone number or an email address (or both), so the hub can ask you questions and tell you the decision."
    ),
    "date_of_birth_missing": FIELDS["/children/*/date_of_birth"].prompt,
    "date_of_birth_conflict": (
        "Give only one of date_of_birth (a born child) and expected_date_of_birth (an unborn child): remove the one "
        "that does not apply."
    ),
    "nhs_number_missing": FIELDS["/children/*/nhs_number"].prompt,
    "children_missing": FIELDS["/children"].prompt,
    "too_many_children": (
        "Remove children until there are at most 12 in this referral, and send the others in a second referral "
        "that mentions this one."
    ),
    "concern_category_missing": FIELDS["/concerns/categories"].prompt,
}

# Format problems raised by the schema, with {label} filled in from FIELDS.
FORMAT_MESSAGES: dict[str, str] = {
    "date_invalid": "Enter {label} as a date in the form YYYY-MM-DD, for example 2015-04-23.",
    "date_in_future": (
        "Check {label}: it is later than today. Give the date it actually happened; only expected_date_of_birth may "
        "be in the future."
    ),
    "expected_date_not_in_future": (
        "Check the expected date of birth: it is not after today. If the baby has been born, give date_of_birth "
        "instead and remove expected_date_of_birth."
    ),
    "nhs_number_format_invalid": (
        "Enter the NHS number as 10 digits (spaces are fine, for example 943 476 5919), or leave it out and say why "
        "in nhs_number_unknown_reason."
    ),
    "nhs_number_invalid": (
        "Check the NHS number: its last digit does not match the others (modulus 11 check), so a digit is probably "
        "wrong or swapped. Copy it again from the health record."
    ),
    "postcode_invalid": (
        "Check {label}: enter a UK postcode such as SW1A 1AA, so the hub knows which area's services are responsible."
    ),
    "phone_invalid": "Enter {label} in digits (spaces, +, brackets and dashes are fine), for example 01632 960000.",
    "email_invalid": "Enter {label} as a full email address such as name@example.org, so the hub can reach you.",
    "duplicate_value": "Remove the repeated values from {label}: give each one once.",
}


def field_text(pattern: str) -> FieldText:
    """The wording for a field, by pointer pattern, then by its own name, then from the name itself."""
    if pattern in FIELDS:
        return FIELDS[pattern]
    parent, _, name = pattern.rpartition("/")
    if name == "*":
        return FieldText(f"each of {field_text(parent).label}", field_text(parent).prompt)
    if name in FIELDS:
        return FIELDS[name]
    label = name.replace("_", " ") or "the referral"
    return FieldText(label, f"Give {label}: it is needed to decide what help the child needs.")


def missing(pattern: str) -> str:
    """Prompt for a required field that is absent, null or blank."""
    return field_text(pattern).prompt


def wrong_type(pattern: str, expected: str) -> str:
    """Prompt for a value of the wrong JSON type."""
    text = field_text(pattern)
    return f"Check {text.label}: it must be {expected}. {text.prompt}"


def not_allowed(pattern: str, choices: str) -> str:
    """Prompt for a value outside a controlled vocabulary."""
    return f"Choose {field_text(pattern).label} from {choices}: only these values can be counted and acted on."


def too_long(pattern: str, max_length: object) -> str:
    """Prompt for text or a list over its limit."""
    return f"Check {field_text(pattern).label}: shorten it to at most {max_length}, keeping what matters for the child."


def too_short(pattern: str, min_length: object) -> str:
    """Prompt for a list under its minimum."""
    return f"Add to {field_text(pattern).label}: give at least {min_length}. {field_text(pattern).prompt}"


def out_of_range(pattern: str, bound: str) -> str:
    """Prompt for a number outside its range."""
    return f"Give {field_text(pattern).label} as a number {bound}. {field_text(pattern).prompt}"


def format_problem(code: str, pattern: str) -> str:
    """Prompt for a value in the wrong format, by the schema's error code."""
    template = FORMAT_MESSAGES.get(code, "Check {label}: it is not in a form this service accepts.")
    return template.format(label=field_text(pattern).label)


def unknown_field(name: str, allowed: list[str]) -> str:
    """Prompt for a field the service does not know: a typo must never silently lose information."""
    guess = difflib.get_close_matches(name, allowed, n=1)
    hint = f" Did you mean '{guess[0]}'?" if guess else ""
    known = f" Fields allowed here: {', '.join(allowed)}." if allowed else ""
    return (
        f"Check the spelling of '{name}' or remove it: this service does not know that field here, and what it holds "
        f"would be lost.{hint}{known}"
    )


def agency_details_missing(agency: str, required: list[str]) -> str:
    """Prompt for agency_details sent without an object at all."""
    if required:
        return f"Add agency_details with what a {agency} referral must include: {', '.join(required)}."
    return f"Add agency_details as an object (an empty {{}} is fine for a {agency} referral with nothing to add)."
