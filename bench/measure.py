"""The measurements: intake against its floor, the queue, history matching, the summary, worker memory."""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time
from typing import Any

import httpx
import sqlalchemy as sa

from bench.infra import Server, cpu_seconds, database_url, median_of, percentile, postgres_pids, wrk


def intake(
    server: Server, *, keys: list[str], connections: list[int], seconds: float, repeats: int, idempotency: bool = False
) -> dict[str, Any]:
    """Referrals per second and latency at each concurrency, with GET /healthz under the same load as the floor;
    with IDEMPOTENCY, every referral carries an Idempotency-Key of its own.

    Each repeat measures the floor and intake back to back; the ratio is taken within a repeat, then the median."""
    results: dict[str, Any] = {}
    # A new server's first seconds are slower, whatever the code (at one connection, a p99 near 170 ms on the first
    # run against 6 ms on the next): both workers take a few seconds of each load, unmeasured, first.
    intake_env = {"BENCH_KEYS": ",".join(keys), "BENCH_IDEMPOTENCY": "1" if idempotency else "0"}
    for script, env in (("intake.lua", intake_env), ("get.lua", {"BENCH_PATH": "/healthz"})):
        wrk(server.base_url, script=script, connections=16, seconds=3, env=env)
    for count in connections:
        floors, intakes, ratios = [], [], []
        for repeat in range(repeats):
            # Alternate the order, so neither side always runs on a warmer server.
            order = ("floor", "intake") if repeat % 2 == 0 else ("intake", "floor")
            run: dict[str, dict[str, Any]] = {}
            for kind in order:
                # Where the time goes: the CPU each request cost the server's workers and PostgreSQL.
                workers = server.workers()
                before = cpu_seconds(workers), cpu_seconds(postgres_pids())
                if kind == "floor":
                    run[kind] = wrk(
                        server.base_url,
                        script="get.lua",
                        connections=count,
                        seconds=seconds,
                        env={"BENCH_PATH": "/healthz"},
                    )
                else:
                    run[kind] = wrk(
                        server.base_url,
                        script="intake.lua",
                        connections=count,
                        seconds=seconds,
                        env=intake_env,
                    )
                requests = max(1, run[kind]["requests"])
                run[kind]["worker_cpu_ms"] = 1000 * (cpu_seconds(workers) - before[0]) / requests
                run[kind]["postgres_cpu_ms"] = 1000 * (cpu_seconds(postgres_pids()) - before[1]) / requests
            floors.append(run["floor"])
            intakes.append(run["intake"])
            ratios.append(run["intake"]["rps"] / run["floor"]["rps"])
        results[str(count)] = {
            "intake_rps": median_of(intakes, "rps"),
            "intake_p50_ms": median_of(intakes, "latency_us", "p50") / 1000,
            "intake_p99_ms": median_of(intakes, "latency_us", "p99") / 1000,
            "intake_non_2xx": sum(run["non_2xx"] for run in intakes),
            "intake_requests": sum(run["requests"] for run in intakes),
            "floor_rps": median_of(floors, "rps"),
            "floor_p50_ms": median_of(floors, "latency_us", "p50") / 1000,
            "floor_p99_ms": median_of(floors, "latency_us", "p99") / 1000,
            "intake_over_floor": statistics.median(ratios),
            "intake_worker_cpu_ms": median_of(intakes, "worker_cpu_ms"),
            "intake_postgres_cpu_ms": median_of(intakes, "postgres_cpu_ms"),
            "floor_worker_cpu_ms": median_of(floors, "worker_cpu_ms"),
            "floor_postgres_cpu_ms": median_of(floors, "postgres_cpu_ms"),
            "runs": {"intake": intakes, "floor": floors},
        }
    return results


def queue(server: Server, *, manager_key: str, seconds: float, repeats: int) -> dict[str, Any]:
    """p50 and p95 of the queue's first page, and of a filtered page, one request at a time."""
    pages = {"first_page": "/v1/queue", "filtered_page": "/v1/queue?rag=amber&assigned=unassigned&limit=50"}
    results: dict[str, Any] = {}
    for name, path in pages.items():
        runs = [
            wrk(
                server.base_url,
                script="get.lua",
                connections=1,
                seconds=seconds,
                env={"BENCH_PATH": path, "BENCH_KEY": manager_key},
            )
            for _ in range(repeats)
        ]
        results[name] = {
            "p50_ms": median_of(runs, "latency_us", "p50") / 1000,
            "p95_ms": median_of(runs, "latency_us", "p95") / 1000,
            "rps": median_of(runs, "rps"),
            "non_2xx": sum(run["non_2xx"] for run in runs),
        }
    return results


def history(database: str, *, lookups: int, repeats: int) -> dict[str, Any]:
    """Matching one child against every child on record (intake's own query), half of them children on record."""
    from triage.db import make_engine
    from triage.history import ChildKey, find_earlier_referrals, name_key
    from triage.simulate.people import FIRST_NAMES, SURNAMES

    engine = make_engine(database_url(database))
    rng = random.Random(5)
    with engine.connect() as conn:
        total = int(conn.execute(sa.text("SELECT count(*) FROM child")).scalar_one())
        # A sample of about `lookups` rows read from random pages: quick even with ten million children.
        share = min(100.0, 100.0 * lookups * 4 / max(total, 1))
        known = conn.execute(
            sa.text(
                f"SELECT name_key, date_of_birth, nhs_number FROM child TABLESAMPLE SYSTEM ({share:.6f}) "
                "WHERE date_of_birth IS NOT NULL LIMIT :n"
            ),
            {"n": lookups // 2},
        ).all()
    keys = [ChildKey(name_key=k, date_of_birth=b, nhs_number=n, unborn=False, age_years=None) for k, b, n in known]
    while len(keys) < lookups:
        born = dt.date(2010, 1, 1) + dt.timedelta(days=rng.randrange(6000))
        keys.append(
            ChildKey(
                name_key=name_key(rng.choice(FIRST_NAMES), rng.choice(SURNAMES) + "-new"),
                date_of_birth=born,
                nhs_number=None,
                unborn=False,
                age_years=None,
            )
        )
    rng.shuffle(keys)
    now = dt.datetime.now(dt.UTC)
    p50s, p95s, found = [], [], 0
    from sqlmodel import Session

    for _ in range(repeats):
        timings = []
        with Session(engine) as session:
            for key in keys:
                started = time.perf_counter()
                earlier = find_earlier_referrals(session=session, children=[key], before=now)
                timings.append((time.perf_counter() - started) * 1000)
                found += bool(earlier[0])
                session.rollback()
        p50s.append(percentile(timings, 50))
        p95s.append(percentile(timings, 95))
    engine.dispose()
    return {
        "children_on_record": total,
        "lookups": len(keys),
        "share_found": round(found / (len(keys) * repeats), 3),
        "p50_ms": statistics.median(p50s),
        "p95_ms": statistics.median(p95s),
    }


def summary(server: Server, *, manager_key: str, repeats: int) -> dict[str, Any]:
    """GET /v1/reports/summary over the last year, one request at a time, after one to warm the caches."""
    today = dt.date.today()
    params = {"from": (today - dt.timedelta(days=365)).isoformat(), "to": today.isoformat()}
    headers = {"Authorization": f"Bearer {manager_key}"}
    timings = []
    referrals = 0
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=120) as client:
        for attempt in range(repeats + 1):
            started = time.perf_counter()
            response = client.get("/v1/reports/summary", params=params)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            referrals = response.json()["volume"]["referrals"]
            if attempt > 0:
                timings.append(elapsed * 1000)
    return {
        "referrals_in_year": referrals,
        "median_ms": statistics.median(timings),
        "min_ms": min(timings),
        "max_ms": max(timings),
        "runs": len(timings),
    }
