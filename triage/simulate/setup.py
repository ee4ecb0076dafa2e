"""What a simulation needs before its first referral: partner organisations, staff, receipt times, and what the
children already on record are matched on."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from schemas.enums import Agency, Role
from schemas.tables import ApiKey, Child, Organisation, StaffUser
from triage import admin
from triage.auth import SYSTEM
from triage.clock import LONDON, is_working_day
from triage.simulate.rows import Sender
from triage.simulate.workflow import Staff

# How many organisations of each agency refer; names start "Simulated" so a second run reuses them.
ORGANISATIONS = {
    Agency.police: 2, Agency.school: 12, Agency.health: 3, Agency.gp: 6, Agency.dental: 2, Agency.local_authority: 2,
    Agency.early_years: 4, Agency.housing: 2, Agency.probation: 1, Agency.youth_justice: 1, Agency.voluntary: 4,
    Agency.other: 3,
}  # fmt: skip
PRACTITIONERS, MANAGERS = 12, 3
# Referrals per London hour of the day: most in working hours, police through the night.
HOURLY = (1, 1, 1, 1, 1, 1, 1, 2, 4, 8, 8, 8, 8, 8, 8, 8, 8, 5, 3, 3, 3, 3, 2, 2)


@dataclass(frozen=True)
class Cast:
    """The simulated organisations (by agency) and staff."""

    senders: dict[Agency, list[Sender]]
    staff: Staff


def cast_of(session: Session) -> Cast:
    """The simulated organisations, each with a key, and staff: made on first use, reused afterwards."""
    senders: dict[Agency, list[Sender]] = {agency: [] for agency in ORGANISATIONS}
    for agency, count in ORGANISATIONS.items():
        for number in range(1, count + 1):
            name = f"Simulated {agency.replace('_', ' ')} {number}"
            org = session.execute(sa.select(Organisation).where(col(Organisation.name) == name)).scalars().first()
            if org is None:
                org = admin.create_organisation(session=session, caller=SYSTEM, name=name, agency=agency)
            key_id = session.execute(
                sa.select(col(ApiKey.id)).where(col(ApiKey.organisation_id) == org.id).order_by(col(ApiKey.created_at))
            ).scalar()
            if key_id is None:
                key_id = admin.issue_organisation_key(session=session, caller=SYSTEM, organisation_id=org.id).id
            senders[agency].append(Sender(organisation_id=org.id, agency=agency, key_id=key_id))
    made: dict[Role, list[uuid.UUID]] = {Role.practitioner: [], Role.manager: []}
    for role, count in ((Role.practitioner, PRACTITIONERS), (Role.manager, MANAGERS)):
        for number in range(1, count + 1):
            email = f"simulated-{role}-{number}@simulated.invalid"
            user = session.execute(sa.select(StaffUser).where(col(StaffUser.email) == email)).scalars().first()
            if user is None:
                user, _ = admin.create_user(
                    session=session, caller=SYSTEM, name=f"Simulated {role} {number}", email=email, role=role
                )
            made[role].append(user.id)
    return Cast(senders=senders, staff=Staff(practitioners=made[Role.practitioner], managers=made[Role.manager]))


def children_on_record(engine: Engine) -> tuple[set[int], set[str]]:
    """What the children already on record are matched on, so no new child is taken for one of them."""
    keys: set[int] = set()
    numbers: set[str] = set()
    with engine.connect() as conn:
        stmt = sa.select(col(Child.name_key), col(Child.date_of_birth), col(Child.nhs_number))
        for key, born, nhs in conn.execution_options(yield_per=50_000).execute(stmt):
            if born is not None:
                keys.add(hash((key, born.toordinal())))
            if nhs:
                numbers.add(nhs)
    return keys, numbers


def arrival_times(rng: random.Random, *, count: int, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """COUNT receipt times between START and END, sorted: fewer at weekends, bank holidays and at night."""
    first, last = start.astimezone(LONDON).date(), end.astimezone(LONDON).date()
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    weights = [1.0 if is_working_day(day) else 0.45 for day in days]
    times: list[dt.datetime] = []
    while len(times) < count:
        wanted = count - len(times)
        picked_days = rng.choices(days, weights, k=wanted)
        hours = rng.choices(range(24), HOURLY, k=wanted)
        for day, hour in zip(picked_days, hours, strict=True):
            local = dt.datetime.combine(day, dt.time(hour), tzinfo=LONDON)
            at = (local + dt.timedelta(seconds=rng.random() * 3600)).astimezone(dt.UTC)
            if start <= at < end:
                times.append(at)
    times.sort()
    return times
