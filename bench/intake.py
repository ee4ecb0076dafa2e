"""Intake alone against its floor, on a bench database already loaded: `python bench/intake.py --help`.

`make bench` measures intake as one figure among many, after loading its data sets; this runs the same
measurement (bench.measure.intake: wrk with intake.lua against GET /healthz, back to back, ratios within a
repeat) on a database loaded earlier, so a change to the intake path can be measured in a few minutes.

With --baseline DIR (a checkout of another commit, e.g. `git archive HEAD | tar -x -C DIR`), a second server
runs that code on the same database and each repeat measures both, one after the other in alternating order,
so before and after are compared within one run on a machine whose speed drifts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import measure
from bench.infra import ROOT, database_exists, issue_keys, serve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="frontdoor_bench_large", help="A frontdoor_bench_* database.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", default="1,16,64")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server (repeatable).")
    parser.add_argument("--json", type=Path, help="Write the full results here.")
    parser.add_argument("--idempotency", action="store_true", help="Send an Idempotency-Key with every referral.")
    parser.add_argument("--baseline", type=Path, help="Also serve the code in this directory and compare.")
    args = parser.parse_args()
    if not args.database.startswith("frontdoor_bench") or not database_exists(args.database):
        parser.error(f"no bench database {args.database}; load one with `make bench` (BENCH_QUICK=1) first")
    extra_env = dict(item.split("=", 1) for item in args.env)
    keys, _ = issue_keys(args.database, partners=16)
    log = ROOT / "bench" / "results" / "intake-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    connections = [int(c) for c in args.connections.split(",")]
    trees = {"current": extra_env}
    if args.baseline:
        trees = {"baseline": {**extra_env, "PYTHONPATH": str(args.baseline.resolve())}, "current": extra_env}
    results: dict[str, dict[str, Any]] = {name: {} for name in trees}
    peaks: dict[str, dict[int, float]] = {}
    with contextlib.ExitStack() as stack:
        servers = {
            name: stack.enter_context(serve(args.database, workers=args.workers, log=log, extra_env=env))
            for name, env in trees.items()
        }
        for count in connections:
            for repeat in range(args.repeats):
                names = list(servers) if repeat % 2 == 0 else list(reversed(servers))
                for name in names:
                    run = measure.intake(
                        servers[name],
                        keys=keys,
                        connections=[count],
                        seconds=args.seconds,
                        repeats=1,
                        idempotency=args.idempotency,
                    )
                    results[name].setdefault(str(count), []).append(run[str(count)])
        peaks = {name: server.peak_rss_mb() for name, server in servers.items()}
    summary = {name: {key: _median(runs) for key, runs in by_count.items()} for name, by_count in results.items()}
    for name, by_count in summary.items():
        print(f"\n{name}:")
        print(
            "| connections | intake/s | p50 ms | p99 ms | non-2xx | floor/s | floor p99 ms | intake/floor "
            "| CPU ms per referral: workers, PostgreSQL | per floor request |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for label, figures in by_count.items():
            print(
                f"| {label} | {figures['intake_rps']:.0f} | {figures['intake_p50_ms']:.1f} | "
                f"{figures['intake_p99_ms']:.1f} | {figures['intake_non_2xx']} | {figures['floor_rps']:.0f} | "
                f"{figures['floor_p99_ms']:.1f} | {figures['intake_over_floor']:.3f} | "
                f"{figures['intake_worker_cpu_ms']:.2f}, {figures['intake_postgres_cpu_ms']:.2f} | "
                f"{figures['floor_worker_cpu_ms']:.2f}, {figures['floor_postgres_cpu_ms']:.2f} |"
            )
        print(f"peak RSS per worker (MB): {', '.join(f'{mb:.0f}' for mb in peaks[name].values())}")
    if args.json:
        args.json.write_text(json.dumps({"intake": results, "peak_rss_mb": peaks}, indent=2, default=str))


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over repeats (the ratio is each repeat's own ratio, then the median)."""
    keys = (
        "intake_rps",
        "intake_p50_ms",
        "intake_p99_ms",
        "floor_rps",
        "floor_p99_ms",
        "intake_over_floor",
        "intake_worker_cpu_ms",
        "intake_postgres_cpu_ms",
        "floor_worker_cpu_ms",
        "floor_postgres_cpu_ms",
    )
    figures: dict[str, Any] = {key: statistics.median(run[key] for run in runs) for key in keys}
    figures["intake_non_2xx"] = sum(run["intake_non_2xx"] for run in runs)
    return figures


if __name__ == "__main__":
    main()
