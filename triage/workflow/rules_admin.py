"""Changing the threshold rules: read them, check a new version with a dry run, and activate it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.enums import RAG_RANK, Rag
from schemas.tables import Child, Referral, ReferralConcern, RuleSet
from schemas.types import utc_now
from triage import audit, rulesets
from triage.auth import Caller
from triage.errors import Invalid, Problem
from triage.rules import CompiledRuleSet, RatingFailed, RuleSetInvalid, compile_rule_set

DRY_RUN_DAYS = 30
MAX_SOURCE_CHARS = 200_000


def active(*, session: Session) -> dict[str, Any]:
    """The active rule set: its version, name and every rule, as staff read them."""
    row = rulesets.active_row(session)
    rule_set = rulesets.compiled(version=row.version, source=row.source)
    return {
        "version": row.version,
        "name": rule_set.name,
        "activated_at": row.activated_at.isoformat() if row.activated_at else None,
        "rules": [
            {
                "id": rule.id,
                "description": rule.description,
                "level": rule.level,
                "rag": rule.rag,
                "pathway": rule.pathway,
                "when": rule.when,
            }
            for rule in rule_set.rules
        ],
        "examples": len(rule_set.examples),
        "source": row.source,
    }


def version_list(*, session: Session) -> dict[str, Any]:
    """Every stored version, newest first."""
    return {"items": [_version(row) for row in rulesets.versions(session)]}


def validate(*, session: Session, caller: Caller, source: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Check a rule set without storing it: problems with line numbers, failing examples, and a dry run."""
    result = _check(session=session, source=source, now=now or utc_now())
    audit.record(
        session=session,
        caller=caller,
        action="validate",
        entity="rule_set",
        entity_id=None,
        detail={
            "valid": result["valid"],
            "problems": len(result["problems"]),
            "examples_failed": len(result["examples"]),
        },
    )
    return result


def activate(*, session: Session, caller: Caller, source: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Store a new version and make it active, only if it compiles and its example cases pass (else 422)."""
    result = _check(session=session, source=source, now=now or utc_now())
    if not result["valid"]:
        problems = [
            Problem(pointer=p["path"], code="rule_set_invalid", message=_with_line(p)) for p in result["problems"]
        ] + [Problem(pointer="/examples", code="rule_set_example_failed", message=m) for m in result["examples"]]
        invalid = Invalid(
            problems=problems,
            summary="The rule set was not stored: correct the problems (each names its line) and send it again.",
        )
        invalid.extra.update(problems=result["problems"], examples=result["examples"])
        raise invalid
    row = rulesets.store_active(session=session, source=source, created_by=caller.user_id)
    audit.record(
        session=session,
        caller=caller,
        action="activate",
        entity="rule_set",
        entity_id=str(row.version),
        detail={"version": row.version, "dry_run_changed": result["dry_run"]["changed"]},
    )
    return {**_version(row), "dry_run": result["dry_run"]}


def dry_run(*, session: Session, rule_set: CompiledRuleSet, now: dt.datetime) -> dict[str, Any]:
    """Re-rate the children of the last 30 days' referrals from their stored facts, and count what would change."""
    since = now - dt.timedelta(days=DRY_RUN_DAYS)
    referrals = {
        row.id: row
        for row in session.execute(
            sa.select(
                col(Referral.id),
                col(Referral.immediate_danger),
                col(Referral.agency),
                col(Referral.agency_details),
                col(Referral.indicators),
                col(Referral.rag_rank),
                col(Referral.level),
            ).where(col(Referral.received_at) >= since)
        )
    }
    concerns: dict[uuid.UUID, list[str]] = {}
    concern_rows = session.execute(
        sa.select(col(ReferralConcern.referral_id), col(ReferralConcern.category))
        .join(Referral, col(Referral.id) == col(ReferralConcern.referral_id))
        .where(col(Referral.received_at) >= since)
    )
    for referral_id, category in concern_rows:
        concerns.setdefault(referral_id, []).append(category)
    children = session.execute(
        sa.select(
            col(Child.referral_id),
            col(Child.age_years),
            col(Child.unborn),
            col(Child.current_plan),
            col(Child.referrals_12m),
            col(Child.neglect_referrals_12m),
            col(Child.level),
            col(Child.rag),
            col(Child.pathway),
            col(Child.reasons),
        )
        .join(Referral, col(Referral.id) == col(Child.referral_id))
        .where(col(Referral.received_at) >= since)
    )
    counts: Counter[str] = Counter()
    before_rules: Counter[str] = Counter()
    after_rules: Counter[str] = Counter()
    failures: list[str] = []
    # A referral takes the rating of its most urgent child: RAG first, then level (as at intake).
    referral_rating: dict[uuid.UUID, tuple[int, int]] = {}
    for child in children:
        referral = referrals[child.referral_id]
        counts["children_considered"] += 1
        facts = {
            "immediate_danger": referral.immediate_danger,
            "agency": referral.agency,
            "concerns": concerns.get(child.referral_id, []),
            "indicators": referral.indicators or [],
            "child": {"age_years": child.age_years, "unborn": child.unborn, "current_plan": child.current_plan},
            "agency_details": referral.agency_details or {},
            "history": {"referrals_12m": child.referrals_12m, "neglect_referrals_12m": child.neglect_referrals_12m},
        }
        try:
            rating = rule_set.rate(facts)
        except (ValueError, RatingFailed) as error:
            counts["could_not_rate"] += 1
            if len(failures) < 5:
                failures.append(str(error))
            continue
        before_rules.update(reason["rule_id"] for reason in child.reasons or [])
        after_rules.update(reason.rule_id for reason in rating.reasons)
        old, new = _severity(child.level, child.rag), _severity(rating.level, rating.rag)
        if (child.level, child.rag, child.pathway) != (rating.level, rating.rag, rating.pathway):
            counts["changed"] += 1
        if new > old:
            counts["raised"] += 1
        elif new < old:
            counts["lowered"] += 1
        urgency = (RAG_RANK[Rag(rating.rag)], -rating.level)
        referral_rating[child.referral_id] = min(referral_rating.get(child.referral_id, urgency), urgency)
    referrals_changed = sum(
        1
        for referral_id, urgency in referral_rating.items()
        if urgency != (referrals[referral_id].rag_rank, -referrals[referral_id].level)
    )
    return {
        "since": since.isoformat(),
        "referrals_considered": len(referrals),
        "children_considered": counts["children_considered"],
        "changed": counts["changed"],
        "raised": counts["raised"],
        "lowered": counts["lowered"],
        "referrals_changed": referrals_changed,
        "could_not_rate": counts["could_not_rate"],
        "rating_errors": failures,
        "by_rule": {
            rule_id: {"fired_before": before_rules[rule_id], "fired_after": after_rules[rule_id]}
            for rule_id in sorted(set(before_rules) | set(after_rules))
        },
    }


def _check(*, session: Session, source: str, now: dt.datetime) -> dict[str, Any]:
    if len(source) > MAX_SOURCE_CHARS:
        problem = {"line": None, "path": "", "message": f"A rule set is at most {MAX_SOURCE_CHARS} characters."}
        return {"valid": False, "problems": [problem], "examples": [], "dry_run": None}
    try:
        rule_set = compile_rule_set(source, version=0)
    except RuleSetInvalid as invalid:
        return {"valid": False, "problems": invalid.problems, "examples": [], "dry_run": None}
    failures = rule_set.run_examples()
    summary = dry_run(session=session, rule_set=rule_set, now=now)
    problems = []
    if summary["could_not_rate"]:
        # Such a rule set would refuse real referrals at intake: it cannot become active.
        problems.append(
            {
                "line": None,
                "path": "/rules",
                "message": f"The rule set could not rate {summary['could_not_rate']} of the last {DRY_RUN_DAYS} days' "
                f"children: {'; '.join(summary['rating_errors'])}",
            }
        )
    return {"valid": not failures and not problems, "problems": problems, "examples": failures, "dry_run": summary}


def _severity(level: int, rag: str) -> tuple[int, int]:
    """Higher is more serious: the level first, then the more urgent RAG."""
    return level, -RAG_RANK[Rag(rag)]


def _with_line(problem: dict[str, Any]) -> str:
    return f"Line {problem['line']}: {problem['message']}" if problem.get("line") else str(problem["message"])


def _version(row: RuleSet) -> dict[str, Any]:
    return {
        "version": row.version,
        "active": row.active,
        "created_at": row.created_at.isoformat(),
        "created_by": str(row.created_by) if row.created_by else None,
        "activated_at": row.activated_at.isoformat() if row.activated_at else None,
    }
