"""`make bench`: load the bench databases, measure, print a table and write JSON to bench/results/.

BENCH_QUICK=1 runs a smaller, shorter version (10k / 100k referrals, 1M children, one short repeat);
BENCH_REUSE=1 keeps bench databases already loaded to the right size instead of loading them again.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import filler, measure
from bench.infra import (
    ROOT,
    count,
    database_exists,
    frontdoor,
    issue_keys,
    recreate_database,
    serve,
    vacuum,
)
from bench.report import table

QUICK = os.environ.get("BENCH_QUICK") == "1"
REUSE = os.environ.get("BENCH_REUSE") == "1"
SMALL, LARGE = 10_000, (100_000 if QUICK else 1_000_000)
SMALL_DAYS = 5
CHILDREN_LARGE = 1_000_000 if QUICK else 10_000_000
SECONDS = 4.0 if QUICK else 12.0
REPEATS = 1 if QUICK else 3
CONNECTIONS = [1, 16, 64]
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
RESULTS = ROOT / "bench" / "results"
DB_SMALL, DB_LARGE, DB_CHILDREN = "frontdoor_bench_small", "frontdoor_bench_large", "frontdoor_bench_children"


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    memory_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "postgresql_client": pg,
        "server_workers": WORKERS,
        "quick": QUICK,
        # Other work on the machine shows here: the figures are only comparable on a quiet machine.
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def step(message: str) -> float:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)
    return time.perf_counter()


def load(database: str, referrals: int, days: int) -> dict[str, Any]:
    """A bench database with REFERRALS simulated referrals over DAYS (kept with BENCH_REUSE=1 if already there)."""
    if REUSE and database_exists(database) and count(database, "SELECT count(*) FROM referral") >= referrals:
        step(f"reusing {database} (migrated to the code's schema)")
        frontdoor("migrate", database=database, quiet=True)
        vacuum(database)
        return {"reused": True}
    started = step(f"loading {referrals:,} referrals into {database}")
    recreate_database(database)
    frontdoor("migrate", database=database, quiet=True)
    frontdoor("simulate", "--referrals", str(referrals), "--days", str(days), "--seed", "2026", database=database)
    load_seconds = time.perf_counter() - started
    vacuum(database)
    return {"referrals": referrals, "seconds": round(load_seconds, 1), "per_second": round(referrals / load_seconds)}


def measure_at(database: str, label: str, results: dict[str, Any], log: Path) -> None:
    """Queue, history and summary on one data set."""
    _, manager_key = issue_keys(database, partners=0)
    with serve(database, workers=WORKERS, log=log) as server:
        step(f"queue at {label}")
        results["queue"][label] = measure.queue(server, manager_key=manager_key, seconds=SECONDS, repeats=REPEATS)
        step(f"summary at {label}")
        results["summary"][label] = measure.summary(server, manager_key=manager_key, repeats=3 if QUICK else 5)
    step(f"history at {label}")
    results["history"][label] = measure.history(database, lookups=500 if QUICK else 2000, repeats=REPEATS)


def main() -> None:
    started = time.perf_counter()
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / "server.log"
    results: dict[str, Any] = {"machine": machine(), "load": {}, "queue": {}, "history": {}, "summary": {}}
    small, large = f"{SMALL // 1000}k", f"{LARGE // 1_000_000}M" if LARGE >= 1_000_000 else f"{LARGE // 1000}k"
    results["labels"] = {"small": small, "large": large}
    # The small set is a few days of the same MASH (about 2,000 referrals a day, as the large set's year): the two
    # queues are then of a size, and only the history on record differs.
    results["load"][small] = load(DB_SMALL, SMALL, SMALL_DAYS)
    measure_at(DB_SMALL, small, results, log)
    results["load"][large] = load(DB_LARGE, LARGE, 365)
    measure_at(DB_LARGE, large, results, log)

    step(f"intake at {large} on record: wrk at {CONNECTIONS} connections, {SECONDS:.0f} s x {REPEATS}")
    keys, _ = issue_keys(DB_LARGE, partners=16)
    with serve(DB_LARGE, workers=WORKERS, log=log) as server:
        results["intake"] = measure.intake(server, keys=keys, connections=CONNECTIONS, seconds=SECONDS, repeats=REPEATS)
        # What a partner that sends an Idempotency-Key with each referral gets, at the busiest concurrency.
        results["intake_keyed"] = measure.intake(
            server, keys=keys, connections=CONNECTIONS[-1:], seconds=SECONDS, repeats=REPEATS, idempotency=True
        )
        peaks = server.peak_rss_mb()
    results["memory"] = {"peak_rss_mb_per_worker": peaks, "peak_rss_mb": max(peaks.values())}

    children = f"{CHILDREN_LARGE // 1_000_000}M"
    if REUSE and database_exists(DB_CHILDREN):
        # History matching reads only the columns and indexes every revision has, and a revision that rewrites
        # every referral takes minutes per million rows (reports_3: 223 s for the 1M set). The filler writes the
        # current schema, so the database is brought up to it only when children are still to be added.
        if filler.to_add(count(DB_CHILDREN, "SELECT count(*) FROM child"), CHILDREN_LARGE):
            frontdoor("migrate", database=DB_CHILDREN, quiet=True)
    else:
        step(f"copying {DB_LARGE} and adding filler to {CHILDREN_LARGE:,} children")
        recreate_database(DB_CHILDREN, template=DB_LARGE)
    results["load"][f"{children} children"] = filler.add_children(DB_CHILDREN, target=CHILDREN_LARGE)
    vacuum(DB_CHILDREN, ("referral", "child", "referral_concern"))
    step(f"history at {children} children")
    results["history"][f"{children} children"] = measure.history(
        DB_CHILDREN, lookups=500 if QUICK else 2000, repeats=REPEATS
    )

    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["machine"]["minutes"] = round((time.perf_counter() - started) / 60, 1)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    text = table(results)
    print(text)
    for name in (f"bench-{stamp}.json", "latest.json"):
        (RESULTS / name).write_text(json.dumps(results, indent=2, default=str))
    (RESULTS / "latest.md").write_text(text)
    print(f"\nwritten: bench/results/bench-{stamp}.json, bench/results/latest.json, bench/results/latest.md")


if __name__ == "__main__":
    main()
