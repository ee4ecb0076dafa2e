"""Controlled vocabularies of the front door (DOMAIN.md, API.md)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Agency(StrEnum):
    police = "police"
    health = "health"
    gp = "gp"
    dental = "dental"
    probation = "probation"
    youth_justice = "youth_justice"
    school = "school"
    early_years = "early_years"
    housing = "housing"
    local_authority = "local_authority"
    voluntary = "voluntary"
    other = "other"


HEALTH_AGENCIES = frozenset({Agency.health, Agency.gp, Agency.dental})
JUSTICE_AGENCIES = frozenset({Agency.probation, Agency.youth_justice})
EDUCATION_AGENCIES = frozenset({Agency.school, Agency.early_years})


class Role(StrEnum):
    referrer = "referrer"
    practitioner = "practitioner"
    manager = "manager"
    admin = "admin"


STAFF_ROLES = frozenset({Role.practitioner, Role.manager, Role.admin})


class ConcernCategory(StrEnum):
    neglect = "neglect"
    physical_abuse = "physical_abuse"
    sexual_abuse = "sexual_abuse"
    emotional_abuse = "emotional_abuse"
    domestic_abuse = "domestic_abuse"
    child_sexual_exploitation = "child_sexual_exploitation"
    child_criminal_exploitation = "child_criminal_exploitation"
    fgm = "fgm"
    radicalisation = "radicalisation"
    parental_substance_misuse = "parental_substance_misuse"
    parental_mental_health = "parental_mental_health"
    self_harm = "self_harm"
    missing_from_home = "missing_from_home"
    school_attendance = "school_attendance"
    housing = "housing"
    other = "other"


# A referral's concern categories as one integer (referral.concern_bits), so the reports count every category in
# their one pass over referrals. Each category keeps its bit: a new category is added at the end, never between.
CONCERN_BITS: dict[str, int] = {category.value: 1 << position for position, category in enumerate(ConcernCategory)}


def concern_bits(categories: Iterable[str]) -> int:
    """The bits of CATEGORIES (each at most once)."""
    return sum(CONCERN_BITS[category] for category in set(categories))


class Indicator(StrEnum):
    injury = "injury"
    child_witnessed_abuse = "child_witnessed_abuse"
    disclosure_by_child = "disclosure_by_child"
    home_conditions_poor = "home_conditions_poor"
    hunger = "hunger"
    poor_hygiene = "poor_hygiene"
    left_alone = "left_alone"
    missed_health_appointments = "missed_health_appointments"
    missing_episodes = "missing_episodes"
    substance_use_by_child = "substance_use_by_child"
    previous_child_removed = "previous_child_removed"
    weapon_involved = "weapon_involved"


class ConsentStatus(StrEnum):
    obtained = "obtained"
    not_obtained = "not_obtained"
    not_sought = "not_sought"


class VoiceNotObtainedReason(StrEnum):
    unborn = "unborn"
    pre_verbal = "pre_verbal"
    not_seen = "not_seen"
    seen_not_spoken_to = "seen_not_spoken_to"
    unsafe_to_ask = "unsafe_to_ask"
    declined = "declined"
    other = "other"


class KnownToChildrensServices(StrEnum):
    yes = "yes"
    no = "no"
    unknown = "unknown"


class CurrentPlan(StrEnum):
    none = "none"
    child_in_need = "child_in_need"
    child_protection = "child_protection"
    looked_after = "looked_after"
    unknown = "unknown"


class RiskOfSeriousHarm(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    very_high = "very_high"


class Rag(StrEnum):
    red = "red"
    amber = "amber"
    green = "green"


# Sort key: the most urgent first.
RAG_RANK: dict[Rag, int] = {Rag.red: 0, Rag.amber: 1, Rag.green: 2}


class Outcome(StrEnum):
    no_further_action = "no_further_action"
    universal_services = "universal_services"
    early_help = "early_help"
    section_17_assessment = "section_17_assessment"
    strategy_discussion = "strategy_discussion"
    immediate_protection = "immediate_protection"


# DOMAIN.md: strategy_discussion and immediate_protection rank equally at the top.
OUTCOME_RANK: dict[Outcome, int] = {
    Outcome.no_further_action: 0,
    Outcome.universal_services: 1,
    Outcome.early_help: 2,
    Outcome.section_17_assessment: 3,
    Outcome.strategy_discussion: 4,
    Outcome.immediate_protection: 4,
}


class ReferralStatus(StrEnum):
    received = "received"
    in_triage = "in_triage"
    awaiting_information = "awaiting_information"
    awaiting_approval = "awaiting_approval"
    decided = "decided"
    closed = "closed"


UNDECIDED_STATUSES = frozenset(
    {
        ReferralStatus.received,
        ReferralStatus.in_triage,
        ReferralStatus.awaiting_information,
        ReferralStatus.awaiting_approval,
    }
)


class FeedbackEventKind(StrEnum):
    acknowledged = "acknowledged"
    in_triage = "in_triage"
    information_requested = "information_requested"
    decision_made = "decision_made"
    closed = "closed"


class InformationRequestStatus(StrEnum):
    open = "open"
    answered = "answered"


class IdempotencyState(StrEnum):
    in_flight = "in_flight"
    done = "done"


class DeliveryState(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"
