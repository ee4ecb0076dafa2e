"""Benchmark plumbing: the bench databases, a real `frontdoor serve`, wrk runs, keys and worker memory."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WRK_DIR = ROOT / "bench" / "wrk"
PG = os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


def database_url(name: str) -> str:
    """The URL of a bench database (never one the tests use)."""
    return f"{PG}/{name}"


def admin_engine() -> sa.Engine:
    return sa.create_engine(database_url("postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def database_exists(name: str) -> bool:
    with admin_engine().connect() as conn:
        found = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
    return found is not None


def recreate_database(name: str, *, template: str | None = None) -> None:
    """Drop and create a bench database, empty or as a copy of TEMPLATE."""
    assert name.startswith("frontdoor_bench"), "benchmarks use their own databases only"
    with admin_engine().connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if template:
            conn.execute(
                sa.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{template}'")
            )
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        else:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))


def frontdoor(*args: str, database: str, quiet: bool = False) -> None:
    """Run a `frontdoor` command against a bench database."""
    env = dict(os.environ, DATABASE_URL=database_url(database), ENVIRONMENT="development", LOG_LEVEL="WARNING")
    subprocess.run(
        [str(BIN / "frontdoor"), *args],
        env=env,
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL if quiet else None,
    )


def count(database: str, sql: str) -> int:
    engine = sa.create_engine(database_url(database), poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


def vacuum(
    database: str, tables: tuple[str, ...] = ("referral", "child", "referral_concern", "feedback_event")
) -> None:
    """VACUUM ANALYZE, so the planner's statistics and the visibility maps match the data just loaded."""
    engine = sa.create_engine(database_url(database), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        for table in tables:
            conn.execute(sa.text(f"VACUUM (ANALYZE) {table}"))


def issue_keys(database: str, *, partners: int) -> tuple[list[str], str]:
    """Keys for PARTNERS police forces and for a manager, made straight in the database."""
    os.environ["DATABASE_URL"] = database_url(database)
    from schemas.enums import Role
    from triage import admin
    from triage.auth import SYSTEM
    from triage.db import make_engine, session_scope

    engine = make_engine(database_url(database))
    keys = []
    with session_scope(engine) as session:
        for number in range(partners):
            org = admin.create_organisation(
                session=session, caller=SYSTEM, name=f"Bench police {number}", agency="police"
            )
            keys.append(admin.issue_organisation_key(session=session, caller=SYSTEM, organisation_id=org.id).api_key)
        _, issued = admin.create_user(
            session=session,
            caller=SYSTEM,
            name="Bench manager",
            email=f"bench-manager-{time.time_ns()}@bench.invalid",
            role=Role.manager,
        )
    engine.dispose()
    return keys, issued.api_key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running `frontdoor serve` with its worker processes."""

    base_url: str
    process: subprocess.Popen[bytes]

    def workers(self) -> list[int]:
        """The worker processes (not multiprocessing's resource tracker)."""
        found = subprocess.run(["ps", "--ppid", str(self.process.pid), "-o", "pid="], capture_output=True, text=True)
        pids = []
        for pid in (int(text) for text in found.stdout.split()):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"resource_tracker" not in command:
                pids.append(pid)
        # With one worker uvicorn serves from the process itself.
        return pids or [self.process.pid]

    def peak_rss_mb(self) -> dict[int, float]:
        """Each worker's peak resident memory so far (VmHWM), in MB."""
        peaks = {}
        for pid in self.workers():
            status = Path(f"/proc/{pid}/status").read_text()
            found = re.search(r"VmHWM:\s+(\d+) kB", status)
            if found:
                peaks[pid] = int(found.group(1)) / 1024
        return peaks


@contextmanager
def serve(database: str, *, workers: int, log: Path, extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    """A real multi-worker server on the bench database, stopped afterwards."""
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=database_url(database),
        ENVIRONMENT="development",
        # Bench traffic comes from a handful of keys far faster than any partner sends: the limiter still counts
        # every request (its cost is measured), it just never refuses one.
        RATE_LIMIT_INTAKE_PER_MINUTE="1000000000",
        RATE_LIMIT_POLLING_PER_MINUTE="1000000000",
        **(extra_env or {}),
    )
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [str(BIN / "frontdoor"), "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(base_url=f"http://127.0.0.1:{port}", process=process)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the server stopped; see {log}")
            try:
                if (
                    httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200
                    and len(server.workers()) >= workers
                ):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("the server did not start within a minute")
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def wrk(
    url: str, *, script: str, connections: int, seconds: float, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """One wrk run; its BENCH_JSON line with requests per second added."""
    threads = min(2, connections)
    command = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_DIR / script),
        url,
    ]
    environment = dict(os.environ, BENCH_LUA_DIR=str(WRK_DIR), **(env or {}))
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    line = next(line for line in done.stdout.splitlines() if line.startswith("BENCH_JSON "))
    result: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["non_2xx"] = result["errors"]["status"]
    return result


def cpu_seconds(pids: list[int]) -> float:
    """The CPU time (user and system) the processes PIDS have used so far; a process gone since counts nothing."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    """Every PostgreSQL server process on this machine (the bench server's database is local)."""
    found = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def median_of(runs: list[dict[str, Any]], *path: str) -> float:
    """The median over repeated runs of one figure (a key path into each run)."""
    values = []
    for run in runs:
        value: Any = run
        for key in path:
            value = value[key]
        values.append(float(value))
    return statistics.median(values)


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of VALUES."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]
