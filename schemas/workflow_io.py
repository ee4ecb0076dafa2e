"""Request shapes of the MASH staff calls: information requests, decisions, approvals, strategy discussions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, ConfigDict, Field
from pydantic.json_schema import JsonDict
from pydantic_core import PydanticCustomError

from schemas.enums import Agency, Outcome
from schemas.text_io import TextIn

# Free text the service reads as an answer must say something: triage refuses text with no letter or digit (and
# placeholders such as "n/a"), naming the field. Stated here for the document; triage keeps its own prompts.
SAYS_SOMETHING: JsonDict = {"pattern": "[A-Za-z0-9]"}


def _iso_text(value: Any) -> Any:
    # Only the ISO 8601 text the document names: a number would otherwise be read as seconds since 1970.
    if isinstance(value, int | float):
        raise PydanticCustomError("iso_8601_expected", "give it as ISO 8601 text, such as 2026-11-30T16:00:00+00:00")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
Day = Annotated[dt.date, BeforeValidator(_iso_text)]


class _In(TextIn):
    # A typo in a field name must not silently lose what a practitioner recorded.
    model_config = ConfigDict(extra="forbid")


class InformationRequestIn(_In):
    """A question for a partner organisation about a referral."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "organisation_id": "0b7c6f1e-2f4e-4f5e-9b1a-1d2c3b4a5f6e",
                    "question": "Is the family registered with your practice, and were the children seen in the "
                    "last 12 months? Please share any safeguarding concerns on record.",
                    "due_at": "2026-11-30T16:00:00+00:00",
                }
            ]
        },
    )
    organisation_id: uuid.UUID = Field(description="The partner organisation asked.")
    question: str = Field(
        max_length=5000,
        description="What the MASH needs to know, in words the partner can act on.",
        json_schema_extra=SAYS_SOMETHING,
    )
    due_at: Instant | None = Field(
        default=None, description="When the answer is needed; by default the referral's own decision_due_at."
    )


class InformationResponseIn(_In):
    """A partner's answer to an information request."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"response": "Registered since 2019. Both children missed their last two health appointments."}
            ]
        },
    )
    response: str = Field(max_length=20000, json_schema_extra=SAYS_SOMETHING)


class ChildOutcomeIn(_In):
    """The outcome decided for one child of the referral."""

    child_id: uuid.UUID
    outcome: Outcome
    rationale: str = Field(
        max_length=10000,
        description="Why this outcome: kept for staff, never sent to the referrer.",
        json_schema_extra=SAYS_SOMETHING,
    )
    override_reason: str | None = Field(
        default=None,
        max_length=10000,
        description="Required when the outcome is below the rule set's recommended pathway (a step-down).",
    )


class DecisionIn(_In):
    """A practitioner's decision: one outcome per child, and what the referrer is told."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "outcomes": [
                        {
                            "child_id": "6f1c1d3e-9f0a-4c55-8a61-0f0e7b1f2a3b",
                            "outcome": "section_17_assessment",
                            "rationale": "Repeated domestic abuse witnessed by the child; needs an assessment.",
                        }
                    ],
                    "feedback": "A social worker will contact the family this week to begin an assessment.",
                }
            ]
        },
    )
    outcomes: list[ChildOutcomeIn] = Field(max_length=12)
    feedback: str = Field(
        max_length=5000, description="What the referrer is told about the decision.", json_schema_extra=SAYS_SOMETHING
    )


class ReturnIn(_In):
    """A manager's comment when sending a step-down back to the practitioner."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"comment": "Check the school's attendance data before stepping down."}]},
    )
    comment: str = Field(max_length=5000, json_schema_extra=SAYS_SOMETHING)


class ParticipantIn(_In):
    """Someone who took part in a strategy discussion, and the agency they spoke for."""

    agency: Agency
    name: str = Field(max_length=200)


class ActionIn(_In):
    """An action agreed at a strategy discussion."""

    action: str = Field(max_length=2000, json_schema_extra=SAYS_SOMETHING)
    owner: str | None = Field(default=None, max_length=200)
    due_by: Day | None = None


class StrategyDiscussionIn(_In):
    """A multi-agency strategy discussion held about a referral."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "held_at": "2026-11-28T14:00:00+00:00",
                    "participants": [
                        {"agency": "local_authority", "name": "Sam Social Worker"},
                        {"agency": "police", "name": "DC Example"},
                        {"agency": "health", "name": "Named Nurse Example"},
                    ],
                    "safety_plan": "Father to stay with his brother and have no unsupervised contact until the "
                    "conference; school to check in with the child daily.",
                    "actions": [
                        {"action": "Section 47 enquiry to begin today", "owner": "Children's social care"},
                        "Police to complete the criminal investigation interview",
                    ],
                }
            ]
        },
    )
    held_at: Instant
    participants: list[ParticipantIn] = Field(max_length=50)
    safety_plan: str = Field(
        max_length=20000,
        description="What keeps the child safe until the conference.",
        json_schema_extra=SAYS_SOMETHING,
    )
    actions: list[ActionIn | str] = Field(max_length=100)
