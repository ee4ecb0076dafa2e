"""Stored rule-set versions: which one is active, compiled once per version and kept in memory."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.tables import RuleSet
from schemas.types import utc_now
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
    row = session.execute(sa.select(col(RuleSet.version)).where(col(RuleSet.active).is_(True))).first()
    if row is None:
        ensure_default_rule_set(session)
        row = session.execute(sa.select(col(RuleSet.version)).where(col(RuleSet.active).is_(True))).one()
    version = row.version
    if version in _compiled:
        return _compiled[version]
    source = session.execute(sa.select(col(RuleSet.source)).where(col(RuleSet.version) == version)).scalar_one()
    return compiled(version=version, source=source)
