"""Posted page forms turned into the arguments of the triage functions, and triage's problems back into fields."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from api.web.templating import LONDON, label
from schemas.enums import Agency, Outcome
from schemas.workflow_io import ChildOutcomeIn, ParticipantIn
from triage.errors import Problem

PARTICIPANT_ROWS = 6
# The agencies a strategy discussion must include, offered first in its form.
PARTICIPANT_DEFAULTS = (Agency.local_authority, Agency.police, Agency.health)


@dataclass
class FormErrors:
    """Problems to show: the GOV.UK error summary's list and each field's message."""

    summary: list[dict[str, str]] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def add(self, field_id: str, message: str, *, anchor: str | None = None) -> None:
        if field_id in self.fields:
            return
        self.fields[field_id] = message
        self.summary.append({"text": message, "href": f"#{anchor or field_id}"})

    def __bool__(self) -> bool:
        return bool(self.summary)


def field_id(pointer: str) -> str:
    """The id of the form field a JSON Pointer names ("/outcomes/0/rationale" -> "outcomes-0-rationale")."""
    return pointer.strip("/").replace("/", "-") or "form"


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def add_problems(
    errors: FormErrors,
    problems: list[Problem],
    *,
    renumber: Mapping[str, Mapping[int, int]] | None = None,
    anchors: Mapping[str, str] | None = None,
    messages: Mapping[str, Callable[[Problem, str], str | None]] | None = None,
) -> None:
    """Show triage's problems against the fields they name, renumbering list items to the form's rows."""
    # A message function may reword a problem: None keeps triage's words, "" leaves out one already shown.
    for problem in problems:
        pointer = problem.pointer
        for prefix, rows in (renumber or {}).items():
            match = re.match(rf"^/{prefix}/(\d+)(/.*)?$", pointer)
            if match and int(match.group(1)) in rows:
                pointer = f"/{prefix}/{rows[int(match.group(1))]}{match.group(2) or ''}"
        target = field_id(pointer)
        custom = (messages or {}).get(problem.code)
        message = custom(problem, target) if custom else None
        if message == "":
            continue  # already shown in the page's own words
        errors.add(target, message or problem.message, anchor=(anchors or {}).get(target))


# --- the decision form


@dataclass
class DecisionForm:
    """A decision as posted: one outcome per child (where chosen) and the referrer's feedback."""

    outcomes: list[ChildOutcomeIn]
    rows: dict[int, int]  # position in `outcomes` -> the child's row in the form
    feedback: str
    values: dict[str, str]


def parse_decision(form: FormData, children: list[dict[str, Any]], errors: FormErrors) -> DecisionForm:
    """The decision form's outcomes; a child with no outcome chosen is an error against their radios."""
    outcomes: list[ChildOutcomeIn] = []
    rows: dict[int, int] = {}
    values: dict[str, str] = {"feedback": text(form, "feedback")}
    for index, child in enumerate(children):
        base = f"outcomes-{index}"
        chosen = text(form, f"{base}-outcome")
        for name in ("outcome", "rationale", "override_reason"):
            values[f"{base}-{name}"] = text(form, f"{base}-{name}")
        if chosen not in set(Outcome):
            errors.add(f"{base}-outcome", f"Choose an outcome for {child_name(child)}")
            continue
        rows[len(outcomes)] = index
        outcomes.append(
            ChildOutcomeIn(
                child_id=uuid.UUID(child["id"]),
                outcome=Outcome(chosen),
                rationale=values[f"{base}-rationale"],
                override_reason=values[f"{base}-override_reason"] or None,
            )
        )
    return DecisionForm(outcomes=outcomes, rows=rows, feedback=values["feedback"], values=values)


def decision_messages(children: list[dict[str, Any]], values: dict[str, str]) -> dict[str, Callable[..., str | None]]:
    """Decision problems in the words of the page, naming the child."""

    def child_for(target: str) -> dict[str, Any] | None:
        match = re.match(r"^outcomes-(\d+)-", target)
        return children[int(match.group(1))] if match and int(match.group(1)) < len(children) else None

    def rationale(_problem: Problem, target: str) -> str | None:
        child = child_for(target)
        return f"Enter why this outcome is right for {child_name(child)}" if child else None

    def override(_problem: Problem, target: str) -> str | None:
        child = child_for(target)
        if not child:
            return None
        chosen = values.get(target.replace("override_reason", "outcome"), "")
        recommended = child.get("triage", {}).get("pathway")
        return (
            f"{label(chosen)} is below the rules' recommendation ({label(recommended)}) for {child_name(child)}: "
            "enter the override reason, saying why a lower outcome is safe"
        )

    return {
        "rationale_missing": rationale,
        "override_reason_missing": override,
        # Each child without an outcome is already shown against their own radios.
        "child_outcome_missing": lambda _p, _t: "",
        "feedback_missing": lambda _p, _t: (
            "Enter what the referrer will be told about the decision and what happens next"
        ),
    }


def child_name(child: dict[str, Any] | None) -> str:
    """A child's full name as the referral gives it."""
    if not child:
        return "this child"
    return f"{child.get('first_name', '')} {child.get('last_name', '')}".strip()


# --- information requests


@dataclass
class InformationRequestForm:
    """An information request as posted."""

    organisation_id: uuid.UUID | None
    question: str
    due_at: dt.datetime | None
    values: dict[str, str]


def parse_information_request(form: FormData, errors: FormErrors) -> InformationRequestForm:
    """The organisation, question and (optional) answer-by date; a date that is not a date is an error."""
    values = {name: text(form, name) for name in ("organisation_id", "question", "due-day", "due-month", "due-year")}
    organisation_id = None
    try:
        organisation_id = uuid.UUID(values["organisation_id"])
    except ValueError:
        errors.add("organisation_id", "Choose the partner organisation to ask")
    due_at = None
    if any(values[f"due-{part}"] for part in ("day", "month", "year")):
        day = _date(values["due-day"], values["due-month"], values["due-year"])
        if day is None:
            errors.add(
                "due_at", "Enter the date the answer is needed by as a real date, like 27 3 2027", anchor="due-day"
            )
        else:
            # An answer wanted "by" a day is wanted by the end of that working day.
            due_at = dt.datetime.combine(day, dt.time(17, 0), tzinfo=LONDON)
    return InformationRequestForm(
        organisation_id=organisation_id, question=values["question"], due_at=due_at, values=values
    )


# --- strategy discussions


@dataclass
class StrategyForm:
    """A strategy discussion record as posted."""

    held_at: dt.datetime | None
    participants: list[ParticipantIn]
    rows: dict[int, int]
    safety_plan: str
    actions: list[str]
    values: dict[str, str]


def parse_strategy(form: FormData, errors: FormErrors) -> StrategyForm:
    """When it was held, who took part (blank rows left out), the safety plan and one action per line."""
    names = ["held-day", "held-month", "held-year", "held-time", "safety_plan", "actions"]
    names += [f"participants-{i}-{part}" for i in range(PARTICIPANT_ROWS) for part in ("agency", "name")]
    values = {name: text(form, name) for name in names}
    held_at = None
    day = _date(values["held-day"], values["held-month"], values["held-year"])
    moment = _time(values["held-time"])
    if day is None:
        errors.add("held_at", "Enter the date the discussion was held, like 27 3 2027", anchor="held-day")
    elif moment is None:
        errors.add("held-time", "Enter the time the discussion began, like 14:30")
    else:
        held_at = dt.datetime.combine(day, moment, tzinfo=LONDON)
    participants: list[ParticipantIn] = []
    rows: dict[int, int] = {}
    for index in range(PARTICIPANT_ROWS):
        agency, name = values[f"participants-{index}-agency"], values[f"participants-{index}-name"]
        if not name:
            continue
        if agency not in set(Agency):
            errors.add(f"participants-{index}-agency", f"Choose the agency {name} spoke for")
            continue
        rows[len(participants)] = index
        participants.append(ParticipantIn(agency=Agency(agency), name=name))
    actions = [line.strip() for line in values["actions"].splitlines() if line.strip()]
    return StrategyForm(
        held_at=held_at,
        participants=participants,
        rows=rows,
        safety_plan=values["safety_plan"],
        actions=actions,
        values=values,
    )


def strategy_defaults() -> dict[str, str]:
    """A blank strategy form with the three required agencies offered in its first rows."""
    values = {f"participants-{i}-agency": str(agency) for i, agency in enumerate(PARTICIPANT_DEFAULTS)}
    now = dt.datetime.now(LONDON)
    values.update({"held-day": str(now.day), "held-month": str(now.month), "held-year": str(now.year)})
    return values


def _date(day: str, month: str, year: str) -> dt.date | None:
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        return None


def _time(value: str) -> dt.time | None:
    match = re.fullmatch(r"(\d{1,2})[:.](\d{2})", value.strip())
    if not match:
        return None
    try:
        return dt.time(int(match.group(1)), int(match.group(2)))
    except ValueError:
        return None


STRATEGY_ANCHORS = {"held_at": "held-day", "participants": "participants-0-agency"}


def strategy_problems(problems: list[Problem]) -> list[Problem]:
    """Strategy problems against the page's fields: every action's problem belongs to the one actions box."""
    return [
        Problem(pointer="/actions", code=p.code, message=p.message) if p.pointer.startswith("/actions/") else p
        for p in problems
    ]
