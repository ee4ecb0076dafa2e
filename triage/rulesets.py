"""Stored rule-set versions: which one is active, compiled once per version and kept in memory."""

from __future__ import annotations

import threading
import uuid

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.tables import RuleSet
from schemas.types import utc_now
from triage.errors import Conflict
from triage.rules import CompiledRuleSet, compile_rule_set, load_default_source

_compiled: dict[int, CompiledRuleSet] = {}
_lock = threading.Lock()


def compiled(*, version: int, source: str) -> CompiledRuleSet:
    """The compiled form of a stored version (compiled on first use, then cached)."""
    found = _compiled.get(version)
    if found is None:
        with _lock:
            found = _compiled.get(version)
            if found is None:
                found = compile_rule_set(source, version=version)
                _compiled[version] = found
    return found


def ensure_default_rule_set(session: Session) -> None:
    """Store the default rule set as version 1, active, when no rule set exists yet."""
    if session.execute(sa.select(col(RuleSet.id)).limit(1)).first() is not None:
        return
    now = utc_now()
    try:
        with session.begin_nested():
            session.add(RuleSet(version=1, source=load_default_source(), active=True, activated_at=now))
    except sa.exc.IntegrityError:
        # Another process stored it first: theirs is the same default.
        pass


def active_rule_set(session: Session) -> CompiledRuleSet:
    """The rule set that rates new referrals now."""
    return rule_set_of(session=session, version=session.execute(sa.select(ACTIVE_VERSION)).scalar())


# The active version as a scalar subquery, for intake to read in a statement it runs anyway: read in the
# referral's own transaction, so a new version rates every referral that arrives after it is stored, in every
# process, with no query of its own.
ACTIVE_VERSION = sa.select(col(RuleSet.version)).where(col(RuleSet.active).is_(True)).scalar_subquery()


def rule_set_of(*, session: Session, version: int | None) -> CompiledRuleSet:
    """The compiled rule set of VERSION, read from ACTIVE_VERSION (None: no rule set yet, so store the default)."""
    if version is None:
        ensure_default_rule_set(session)
        version = session.execute(sa.select(col(RuleSet.version)).where(col(RuleSet.active).is_(True))).scalar_one()
    found = _compiled.get(version)
    if found is not None:
        return found
    source = session.execute(sa.select(col(RuleSet.source)).where(col(RuleSet.version) == version)).scalar_one()
    return compiled(version=version, source=source)


def active_row(session: Session) -> RuleSet:
    """The stored rule set that is active now (the default, stored on first use, when none is)."""
    stmt = sa.select(RuleSet).where(col(RuleSet.active).is_(True))
    row = session.execute(stmt).scalar_one_or_none()
    if row is None:
        ensure_default_rule_set(session)
        row = session.execute(stmt).scalar_one()
    return row


def versions(session: Session) -> list[RuleSet]:
    """Every stored version, newest first."""
    return list(session.execute(sa.select(RuleSet).order_by(col(RuleSet.version).desc())).scalars())


def store_active(*, session: Session, source: str, created_by: uuid.UUID | None) -> RuleSet:
    """Store SOURCE (already checked) as the next version and make it the active one, in the caller's transaction."""
    active_row(session)
    now = utc_now()
    latest = session.execute(sa.select(sa.func.max(col(RuleSet.version)))).scalar_one() or 0
    # Intake reads the active version in its own transaction (ACTIVE_VERSION), so every process switches to the new
    # version as soon as this transaction commits; ratings already made keep the version that made them.
    session.execute(sa.update(RuleSet).where(col(RuleSet.active).is_(True)).values(active=False))
    row = RuleSet(
        version=latest + 1, source=source, created_by=created_by, active=True, activated_at=now, created_at=now
    )
    session.add(row)
    try:
        session.flush()
    except sa.exc.IntegrityError:
        raise Conflict(
            "Another rule set version was stored at the same moment; check the versions and retry."
        ) from None
    # Not compiled into the cache here: the cache is keyed by version, and this transaction may yet roll back.
    return row
