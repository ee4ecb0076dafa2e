"""Fill a database with realistic synthetic referrals, stored exactly as intake and the workflow store them."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import queue
import random
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from schemas.types import utc_now
from triage.clock import LONDON
from triage.db import make_engine, session_scope
from triage.rulesets import active_rule_set
from triage.simulate.bodies import AGENCIES, referral_body
from triage.simulate.people import People
from triage.simulate.rows import Batch, intake_rows
from triage.simulate.setup import Cast, arrival_times, cast_of, children_on_record
from triage.simulate.sink import Writer, analyse, reserve_numbers
from triage.simulate.workflow import Drift, simulate_workflow

BATCH = 5000
RE_REFERRAL = 0.22
YEAR = dt.timedelta(days=365)
# Below this many referrals one process is quicker than starting others.
PARALLEL_FROM = 20_000

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Stream:
    """One process's share of the referrals: their receipt times and reference numbers, in time order.

    Shares never refer the same family, so each keeps its own families' histories."""

    part: int
    parts: int
    times: list[dt.datetime]
    numbers: list[int]
    seed: int
    now: dt.datetime
    cast: Cast
    drift: int


def run_stream(*, engine: Engine, stream: Stream, progress: Progress | None = None) -> None:
    """Store one share of the referrals, batch by batch, with what staff did about each by now."""
    rng = random.Random(f"{stream.seed}/{stream.part}")
    with session_scope(engine) as session:
        rule_set = active_rule_set(session)
    taken_keys, taken_nhs = children_on_record(engine)
    people = People(rng, taken_keys=taken_keys, taken_nhs=taken_nhs, part=stream.part, parts=stream.parts)
    senders, staff = stream.cast.senders, stream.cast.staff
    every_sender = [sender for group in senders.values() for sender in group]
    drift = Drift(allowed=stream.drift)
    writer = Writer(engine)
    try:
        for offset in range(0, len(stream.times), BATCH):
            batch = Batch()
            chunk = zip(stream.times[offset : offset + BATCH], stream.numbers[offset : offset + BATCH], strict=True)
            for received_at, number in chunk:
                today = received_at.astimezone(LONDON).date()
                family = people.again(today=today, at=received_at, within=YEAR) if rng.random() < RE_REFERRAL else None
                if family is None:
                    family = people.new_family(today=today, at=received_at)
                agency = AGENCIES.pick(rng)
                sender = rng.choice(senders[agency])
                body = referral_body(agency=agency, family=family, rng=rng, serial=number, today=today)
                stored = intake_rows(
                    batch=batch,
                    body=body,
                    identities=list(family.children),
                    sender=sender,
                    received_at=received_at,
                    number=number,
                    rule_set=rule_set,
                )
                simulate_workflow(
                    batch=batch, stored=stored, staff=staff, senders=every_sender, now=stream.now, rng=rng, drift=drift
                )
            writer.write(batch)
            if progress is not None:
                progress(batch.referrals)
    finally:
        writer.close()


def _work(url: str, stream: Stream, done: multiprocessing.Queue[int]) -> None:
    """A worker process: its own engine, its share of the referrals, each batch reported when queued."""
    engine = make_engine(url)
    try:
        run_stream(engine=engine, stream=stream, progress=done.put)
    finally:
        engine.dispose()


def simulate(
    *,
    engine: Engine,
    referrals: int,
    days: int,
    seed: int,
    progress: Progress | None = None,
    workers: int | None = None,
) -> None:
    """Store REFERRALS synthetic referrals received over the last DAYS days, with what staff did about them.

    On PostgreSQL a large run is shared among WORKERS processes (default: one per core, up to four)."""
    now = utc_now()
    with session_scope(engine) as session:
        active_rule_set(session)
        cast = cast_of(session)
    times = arrival_times(random.Random(seed), count=referrals, start=now - dt.timedelta(days=days), end=now)
    # Numbers in order of receipt, as intake hands them out, taken before any share starts.
    numbers = reserve_numbers(engine, referrals)
    if workers is None:
        parallel = engine.dialect.name == "postgresql" and referrals >= PARALLEL_FROM
        workers = min(os.cpu_count() or 1, 4) if parallel else 1
    drift = min(200, referrals // 1000)
    streams = [
        Stream(part, workers, times[part::workers], numbers[part::workers], seed, now, cast, drift // workers)
        for part in range(workers)
    ]
    if workers == 1:
        run_stream(engine=engine, stream=streams[0], progress=progress)
    else:
        _run_processes(engine, streams, progress)
    analyse(engine)


def _run_processes(engine: Engine, streams: list[Stream], progress: Progress | None) -> None:
    context = multiprocessing.get_context("spawn")
    done: multiprocessing.Queue[int] = context.Queue()
    url = engine.url.render_as_string(hide_password=False)
    processes = [context.Process(target=_work, args=(url, stream, done), daemon=True) for stream in streams]
    for process in processes:
        process.start()
    while any(process.is_alive() for process in processes) or not done.empty():
        try:
            count = done.get(timeout=0.5)
        except queue.Empty:
            continue
        if progress is not None:
            progress(count)
    failed = [process.exitcode for process in processes if process.exitcode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} simulation worker(s) failed (exit codes {failed}); see their output above")
