"""Synthetic referral bodies, as partners would send them to POST /v1/referrals, already in normalised form."""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random
from typing import Any

from schemas.enums import EDUCATION_AGENCIES, HEALTH_AGENCIES, Agency
from triage.simulate.people import Family, Identity
from triage.validation import SCHOOL_AGE_YEARS, age_on

# England's mix of referral sources (Children in Need census): police 29%, schools 18%, health 15%, local
# authority 14%, the rest shared among the other agencies.
AGENCY_MIX: tuple[tuple[Agency, float], ...] = (
    (Agency.police, 29), (Agency.school, 18), (Agency.health, 10), (Agency.gp, 4), (Agency.dental, 1),
    (Agency.local_authority, 14), (Agency.early_years, 2), (Agency.housing, 2), (Agency.probation, 2),
    (Agency.youth_justice, 1), (Agency.voluntary, 5), (Agency.other, 12),
)  # fmt: skip
CONCERN_WEIGHTS: dict[str, float] = {
    "neglect": 30, "domestic_abuse": 28, "emotional_abuse": 18, "parental_mental_health": 14,
    "parental_substance_misuse": 11, "physical_abuse": 10, "sexual_abuse": 4, "child_criminal_exploitation": 3,
    "child_sexual_exploitation": 2, "self_harm": 4, "missing_from_home": 3, "school_attendance": 5, "housing": 3,
    "other": 6, "fgm": 0.2, "radicalisation": 0.3,
}  # fmt: skip
# Concerns each agency sees more of than the mix above.
AGENCY_LEANING: dict[Agency, tuple[str, ...]] = {
    Agency.police: ("domestic_abuse", "domestic_abuse", "missing_from_home", "child_criminal_exploitation"),
    Agency.school: ("neglect", "school_attendance", "emotional_abuse"),
    Agency.health: ("neglect", "parental_mental_health", "physical_abuse"),
    Agency.gp: ("parental_mental_health", "self_harm"),
    Agency.dental: ("neglect",),
    Agency.probation: ("domestic_abuse", "parental_substance_misuse"),
    Agency.youth_justice: ("child_criminal_exploitation",),
    Agency.housing: ("housing", "neglect"),
}
INDICATORS_OF: dict[str, tuple[str, ...]] = {
    "physical_abuse": ("injury", "disclosure_by_child"),
    "domestic_abuse": ("child_witnessed_abuse", "weapon_involved"),
    "neglect": ("home_conditions_poor", "hunger", "poor_hygiene", "left_alone", "missed_health_appointments"),
    "sexual_abuse": ("disclosure_by_child",),
    "missing_from_home": ("missing_episodes",),
    "child_criminal_exploitation": ("missing_episodes", "substance_use_by_child", "weapon_involved"),
    "parental_substance_misuse": ("left_alone", "substance_use_by_child"),
}
VIEWS = (
    "I don't like going home when Dad has been drinking, he shouts and breaks things.",
    "Mum cries a lot and stays in bed, so I make breakfast for my little brother.",
    "There is never any food in the cupboard and I get hungry at school.",
    "I am scared of the older boys who give me money to take parcels to people.",
    "I want to live with my nan because it is calm at her house and she listens to me.",
    "He hit me with a belt because I was late home and it really hurt my arm.",
)
HOW_OBTAINED = (
    "Spoken to alone in the school office by her class teacher",
    "Spoken to alone by the attending officer in the kitchen",
    "Said to the health visitor during a home visit, with mum in the next room",
    "Told the youth worker at the drop-in session",
)
NOT_HEARD = {
    "unborn": "The baby is not yet born; the mother is pregnant and booked with midwifery.",
    "pre_verbal": "The child is too young to talk about what is happening at home.",
    "not_seen": "The child was asleep upstairs and was not seen when officers attended.",
    "seen_not_spoken_to": "The child was seen but there was no safe moment to speak with them alone.",
    "unsafe_to_ask": "Asking the child in front of the adults present could have put them at risk.",
    "declined": "The child said they did not want to talk to anyone about it today.",
    "other": "The child was unwell and in hospital, so could not be spoken with.",
}
SUMMARIES = (
    "Police attended a domestic incident at the family home late at night; the children were present.",
    "Attendance has fallen sharply this term and the child often arrives hungry and in unwashed uniform.",
    "Health visitor concerned about home conditions and missed appointments for the youngest child.",
    "The child disclosed to a member of staff that an adult at home hurts them; marks were seen.",
    "Concerns about a parent's mental health and the effect on the children's care.",
    "The young person has been missing overnight three times this month and is seen with older males.",
)
CONSENTS = (
    {"status": "obtained", "family_informed": True},
    {"status": "not_sought", "reason": "Seeking consent could increase the risk to the child.",
     "family_informed": False,
     "family_not_informed_reason": "Telling the family could obstruct a police investigation."},
    {"status": "not_obtained", "reason": "The parent declined to give consent to the referral.",
     "family_informed": True},
    {"status": "not_sought", "reason": "The risk to the child means consent is not needed to share.",
     "family_informed": True},
)  # fmt: skip
PLANS = (("none", 70), ("unknown", 13), ("child_in_need", 10), ("child_protection", 5), ("looked_after", 2))
HEARD_REASONS = (("not_seen", 8), ("seen_not_spoken_to", 5), ("unsafe_to_ask", 3), ("declined", 3), ("other", 3))


def agency_details(agency: Agency, rng: random.Random, serial: int, today: dt.date) -> dict[str, Any]:
    """What each agency must add about itself (API.md), with some of its optional details."""
    if agency == Agency.police:
        return {
            "occurrence_number": f"CC-{today:%Y%m%d}-{serial % 10000:04d}",
            "children_present": rng.random() < 0.6,
            "officer_collar_number": str(1000 + serial % 8999),
        }
    if agency in HEALTH_AGENCIES:
        return {
            "service_name": {"health": "Health visiting", "gp": "Example Surgery", "dental": "Example Dental"}[agency]
        }
    if agency in (Agency.probation, Agency.youth_justice):
        return {
            "person_on_probation": "Dean Example",
            "relationship_to_child": rng.choice(("father", "stepfather", "brother", "mother's partner")),
            "risk_of_serious_harm": rng.choices(("low", "medium", "high", "very_high"), (30, 45, 20, 5))[0],
        }
    if agency in EDUCATION_AGENCIES:
        return {"designated_safeguarding_lead": "Mrs J Example", "attendance_percent": float(rng.randint(55, 99))}
    return {
        "service_name": {"housing": "Housing options", "local_authority": "Early help hub"}.get(
            agency, "Family support"
        )
    }


class _Weighted:
    """Random choices from fixed weights, with the running totals worked out once."""

    def __init__(self, items: list[Any], weights: list[float]) -> None:
        self.items = items
        self.totals = list(itertools.accumulate(weights))
        self.total = self.totals[-1]

    def pick(self, rng: random.Random) -> Any:
        return self.items[bisect.bisect(self.totals, rng.random() * self.total)]


def _profiles(count: int = 90) -> list[tuple[tuple[str, ...], tuple[str, ...], float]]:
    """Concern profiles: the categories and indicators that come together in referrals, most common first.

    Real referrals cluster (domestic abuse with parental mental health and substance misuse; neglect with poor
    home conditions); a fixed catalogue also keeps the facts a rule reads to a few thousand combinations, so
    the rule set's caches keep up with a year of referrals."""
    rng = random.Random(2026)
    names, weights = list(CONCERN_WEIGHTS), list(CONCERN_WEIGHTS.values())
    seen: dict[tuple[tuple[str, ...], tuple[str, ...]], float] = {}
    while len(seen) < count:
        chosen = sorted(set(rng.choices(names, weights, k=rng.choices((1, 2, 3), (50, 35, 15))[0])))
        # In sorted order: the draws must not follow the process's string hashing, or --seed would not repeat.
        indicators = {rng.choice(INDICATORS_OF[c]) for c in chosen if c in INDICATORS_OF and rng.random() < 0.45}
        key = (tuple(chosen), tuple(sorted(indicators)))
        seen.setdefault(key, 1.0 / (len(seen) + 3))
    return [(categories, indicators, weight) for (categories, indicators), weight in seen.items()]


PROFILES = _profiles()


def _agency_profiles(agency: Agency) -> _Weighted:
    leaning = set(AGENCY_LEANING.get(agency, ()))
    weights = [w * (3.0 if leaning & set(categories) else 1.0) for categories, _, w in PROFILES]
    return _Weighted([(categories, indicators) for categories, indicators, _ in PROFILES], weights)


BY_AGENCY = {agency: _agency_profiles(agency) for agency in Agency}
AGENCIES = _Weighted([agency for agency, _ in AGENCY_MIX], [weight for _, weight in AGENCY_MIX])
PLAN = _Weighted([p for p, _ in PLANS], [w for _, w in PLANS])
NOT_HEARD_REASON = _Weighted([r for r, _ in HEARD_REASONS], [w for _, w in HEARD_REASONS])


def concerns(agency: Agency, rng: random.Random, *, unborn: bool) -> tuple[list[str], list[str]]:
    """The concern categories and indicators of one referral, from the agency's usual profiles."""
    categories, indicators = BY_AGENCY[agency].pick(rng)
    if unborn and rng.random() < 0.1:
        return list(categories), sorted({*indicators, "previous_child_removed"})
    return list(categories), list(indicators)


def voice(child: Identity, rng: random.Random, today: dt.date) -> dict[str, Any]:
    """The child's words, or why they were not heard, as validation requires for their age."""
    if child.date_of_birth is None:
        return {"not_obtained_reason": "unborn", "explanation": NOT_HEARD["unborn"]}
    if age_on(child.date_of_birth, today) < 3:
        reason = "pre_verbal" if rng.random() < 0.9 else "not_seen"
        return {"not_obtained_reason": reason, "explanation": NOT_HEARD[reason]}
    if rng.random() < 0.78:
        recorded = max(child.date_of_birth, today - dt.timedelta(days=rng.randint(0, 4)))
        return {
            "views": rng.choice(VIEWS),
            "how_obtained": rng.choice(HOW_OBTAINED),
            "recorded_on": recorded.isoformat(),
        }
    reason = NOT_HEARD_REASON.pick(rng)
    return {"not_obtained_reason": reason, "explanation": NOT_HEARD[reason]}


def child_body(child: Identity, family: Family, agency: Agency, rng: random.Random, today: dt.date) -> dict[str, Any]:
    """One child of a referral, with exactly the keys intake keeps (its normalised form)."""
    body: dict[str, Any] = {"first_name": child.first_name, "last_name": child.last_name}
    if child.date_of_birth is not None:
        body["date_of_birth"] = child.date_of_birth.isoformat()
    else:
        assert child.expected_date_of_birth is not None
        body["expected_date_of_birth"] = child.expected_date_of_birth.isoformat()
    body["gender"] = child.gender
    health = agency in HEALTH_AGENCIES
    if child.nhs_number and (health or rng.random() < 0.6):
        body["nhs_number"] = child.nhs_number
    elif health and child.date_of_birth is not None:
        body["nhs_number_unknown_reason"] = "Not registered with a GP practice in this area."
    body["address"] = {"line1": family.line1, "town": family.town, "postcode": family.postcode}
    if child.date_of_birth is not None and age_on(child.date_of_birth, today) in SCHOOL_AGE_YEARS:
        body["school"] = "Example Primary School"
    body["first_language"] = "English"
    body["interpreter_required"] = False
    body["voice"] = voice(child, rng, today)
    plan = PLAN.pick(rng)
    known = "yes" if plan in ("child_in_need", "child_protection", "looked_after") or child.earlier else "no"
    history: dict[str, Any] = {"known_to_childrens_services": known, "current_plan": plan}
    if known == "yes":
        history["previous_concerns"] = "Known to children's services after earlier concerns about home conditions."
    body["history"] = history
    return body


def referral_body(*, agency: Agency, family: Family, rng: random.Random, serial: int, today: dt.date) -> dict[str, Any]:
    """A complete valid referral about a family's children, as the agency would send it."""
    unborn = any(child.date_of_birth is None for child in family.children)
    categories, indicators = concerns(agency, rng, unborn=unborn)
    referrer: dict[str, Any] = {
        "name": "Alex Referrer",
        "role": "Designated safeguarding lead",
        "phone": "01632 960000",
    }
    if rng.random() < 0.5:
        referrer["email"] = "alex.referrer@example.org"
    household: list[dict[str, Any]] = [{"name": f"Sam {family.surname}", "relationship": "parent"}]
    if rng.random() < 0.4:
        household.append({"name": f"Jo {family.surname}", "relationship": "parent", "date_of_birth": "1990-05-06"})
    return {
        "referrer": referrer,
        "immediate_danger": rng.random() < 0.03,
        "concerns": {"categories": categories, "summary": rng.choice(SUMMARIES), "indicators": indicators},
        "children": [child_body(c, family, agency, rng, today) for c in family.children],
        "household": household,
        "consent": dict(rng.choice(CONSENTS)),
        "agency_details": agency_details(agency, rng, serial, today),
    }
