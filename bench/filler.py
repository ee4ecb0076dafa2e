"""Children on record beyond what the simulator makes in reasonable time: closed referrals from earlier years,
three children each, generated inside PostgreSQL (INSERT ... SELECT generate_series), for the history benchmark."""

from __future__ import annotations

import time

import sqlalchemy as sa

from bench.infra import database_url
from schemas.enums import CONCERN_BITS
from triage.simulate.people import FIRST_NAMES, SURNAMES

CHUNK = 999_999  # children per statement: a multiple of three, so a chunk holds whole referrals


def _array(names: tuple[str, ...] | list[str]) -> str:
    return "ARRAY[" + ",".join("'" + name.replace("'", "''") + "'" for name in names) + "]"


def _received(number: str) -> str:
    """Filler referral NUMBER's time of receipt (now() is the transaction's: the same for its concerns and children)."""
    return f"(now() - interval '400 days' - ({number} % 3000000) * interval '1 minute')"


RECEIVED = _received("g")
REFERRALS = f"""
INSERT INTO referral (id, reference, organisation_id, agency, cin_referral_source, status, decided, received_at,
    decision_due_at, in_triage_at, decided_at, closed_at, decided_on_time, level, rag, rag_rank, pathway,
    rule_set_version, reasons, immediate_danger, concerns_summary, indicators, consent_status, created_by_key,
    child_count, told, concern_bits)
SELECT md5('fill-r-' || g)::uuid, 'FILL-' || g, :org, 'police', '6', 'closed', true, {RECEIVED},
    {RECEIVED} + interval '1 day', {RECEIVED} + interval '1 hour', {RECEIVED} + interval '5 hours',
    {RECEIVED} + interval '10 days', true, 2, 'green', 2, 'early_help', 1, '[]'::jsonb, false,
    'Earlier referral (benchmark filler).', '[]'::jsonb, 'obtained', NULL, 3, true,
    CASE WHEN g % 3 = 0 THEN {CONCERN_BITS["neglect"]} ELSE {CONCERN_BITS["domestic_abuse"]} END
FROM generate_series(:first, :last) AS g
"""
CONCERNS = """
INSERT INTO referral_concern (referral_id, category)
SELECT md5('fill-r-' || g)::uuid, CASE WHEN g % 3 = 0 THEN 'neglect' ELSE 'domestic_abuse' END
FROM generate_series(:first, :last) AS g
"""
CHILDREN = f"""
INSERT INTO child (id, referral_id, position, first_name, last_name, name_key, date_of_birth, unborn, age_years,
    nhs_number, postcode, voice_heard, current_plan, referrals_12m, neglect_referrals_12m, level, rag, pathway,
    outcome, step_down, received_at, agency, neglect)
SELECT md5('fill-c-' || g)::uuid, md5('fill-r-' || r)::uuid, (g - 1) % 3, first, last,
    lower(first) || '|' || lower(last), date '2008-01-01' + abs(hashtext('d' || g)) % 6570, false, 9,
    -- NHS-shaped numbers from a range never issued (000...), on two children in five.
    CASE WHEN g % 5 < 2 THEN '000' || lpad((g % 10000000)::text, 7, '0') END,
    'PE1 1AA', true, 'none', 0, 0, 2, 'green', 'early_help', 'early_help', false,
    {_received("r")}, 'police', r % 3 = 0
FROM (SELECT g, (g - 1) / 3 + 1 AS r,
        ({_array(FIRST_NAMES)})[1 + abs(hashtext('f' || g)) % {len(FIRST_NAMES)}] AS first,
        ({_array(SURNAMES)})[1 + abs(hashtext('s' || g)) % {len(SURNAMES)}] AS last
      FROM generate_series(:first, :last) AS g) AS s
"""


def to_add(on_record: int, target: int) -> int:
    """How many children the filler adds to reach TARGET: whole referrals of three, so up to two short of it."""
    wanted = max(0, target - on_record)
    return wanted - wanted % 3


def add_children(database: str, *, target: int) -> dict[str, float]:
    """Add filler until TARGET children are on record; returns how many were added and how long it took."""
    engine = sa.create_engine(database_url(database), poolclass=sa.pool.NullPool)
    started = time.perf_counter()
    with engine.connect() as conn:
        on_record = int(conn.execute(sa.text("SELECT count(*) FROM child")).scalar_one())
        done = int(
            conn.execute(sa.text("SELECT count(*) FROM child WHERE id = md5('fill-c-' || 1)::uuid")).scalar_one()
        )
        org = conn.execute(sa.text("SELECT id FROM organisation ORDER BY created_at LIMIT 1")).scalar_one()
        filled = 0
        if done:
            filled = (
                int(conn.execute(sa.text("SELECT count(*) FROM referral WHERE reference LIKE 'FILL-%'")).scalar_one())
                * 3
            )
        conn.commit()
        wanted = to_add(on_record, target)
        for first in range(filled + 1, filled + wanted + 1, CHUNK):
            last = min(first + CHUNK - 1, filled + wanted)
            with conn.begin():
                conn.execute(sa.text(REFERRALS), {"first": (first - 1) // 3 + 1, "last": last // 3, "org": org})
                conn.execute(sa.text(CONCERNS), {"first": (first - 1) // 3 + 1, "last": last // 3})
                conn.execute(sa.text(CHILDREN), {"first": first, "last": last})
            print(f"  filler: {last - filled:,} of {wanted:,} children added", flush=True)
    engine.dispose()
    return {"children_added": wanted, "seconds": round(time.perf_counter() - started, 1)}
