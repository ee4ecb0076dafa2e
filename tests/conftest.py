"""Shared fixtures: a real database per test (SQLite, or PostgreSQL when TEST_DATABASE_URL is set),
built by the Alembic migrations, and clients that act as each kind of caller."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from schemas.enums import Role
from triage import admin
from triage.auth import SYSTEM
from triage.db import get_engine, migrate, normalise_url, session_scope
from triage.settings import get_settings

PG_BASE = os.environ.get("TEST_DATABASE_URL")
ON_POSTGRES = bool(PG_BASE)
ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """PostgreSQL-only tests are deselected (not skipped) on SQLite runs; CI runs both databases."""
    if ON_POSTGRES:
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("postgres_only") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _pg_url(database: str) -> str:
    assert PG_BASE
    url = sa.engine.make_url(normalise_url(PG_BASE))
    return url.set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for this worker: a SQLite file to copy, or a PostgreSQL database to truncate."""
    os.environ["ENVIRONMENT"] = "test"
    if ON_POSTGRES:
        name = f"frontdoor_test_{os.getpid()}_{_worker()}"
        # No pool: a connection kept from here would not survive the fault suite's restarts.
        admin_engine = sa.create_engine(_pg_url("postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = _pg_url(name)
        migrate(url)
        yield url
        # Left behind, every run's database would add to the server's disk and to its crash recovery.
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()
        return
    path = tmp_path_factory.mktemp("template") / "template.db"
    url = f"sqlite:///{path}"
    migrate(url)
    yield url


def _reset_caches() -> None:
    get_settings.cache_clear()
    get_engine.cache_clear()


@pytest.fixture
def database_url(_template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A clean, migrated database for one test, set as DATABASE_URL."""
    if ON_POSTGRES:
        url = _template
        _truncate(url)
    else:
        source = Path(_template.removeprefix("sqlite:///"))
        target = tmp_path / "frontdoor.db"
        shutil.copyfile(source, target)
        url = f"sqlite:///{target}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ENVIRONMENT", "test")
    _reset_caches()
    yield url
    get_engine().dispose()
    _reset_caches()


def _truncate(url: str) -> None:
    engine = sa.create_engine(normalise_url(url), poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        tables = [
            row[0]
            for row in conn.execute(
                sa.text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
            )
        ]
        # Replica mode lets the test harness clear the append-only audit log between tests.
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def engine(database_url: str) -> sa.Engine:
    """The engine the application under test uses."""
    return get_engine()


@pytest.fixture
def app(database_url: str) -> Any:
    from api.app import create_app

    return create_app()


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    """An HTTP client talking to the application in-process (with its lifespan)."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@dataclass
class Actor:
    """A caller with a key: a partner organisation or a member of staff."""

    role: Role
    key: str
    id: uuid.UUID
    key_id: uuid.UUID
    agency: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture
def make_org(database_url: str) -> Callable[..., Actor]:
    """Register a partner organisation and give it a key."""

    def make(agency: str = "police", name: str | None = None) -> Actor:
        with session_scope(get_engine()) as session:
            org = admin.create_organisation(
                session=session, caller=SYSTEM, name=name or f"{agency} {uuid.uuid4().hex[:6]}", agency=agency
            )
            issued = admin.issue_organisation_key(session=session, caller=SYSTEM, organisation_id=org.id)
        return Actor(role=Role.referrer, key=issued.api_key, id=org.id, key_id=issued.id, agency=agency)

    return make


@pytest.fixture
def make_user(database_url: str) -> Callable[..., Actor]:
    """Add a member of staff with a key."""

    def make(role: Role | str = Role.practitioner, password: str | None = None) -> Actor:
        with session_scope(get_engine()) as session:
            user, issued = admin.create_user(
                session=session,
                caller=SYSTEM,
                name=f"{role} {uuid.uuid4().hex[:4]}",
                email=f"{uuid.uuid4().hex[:10]}@example.org",
                role=Role(role),
                password=password,
            )
        return Actor(role=Role(role), key=issued.api_key, id=user.id, key_id=issued.id)

    return make


@pytest.fixture
def police(make_org: Callable[..., Actor]) -> Actor:
    return make_org("police")


@pytest.fixture
def practitioner(make_user: Callable[..., Actor]) -> Actor:
    return make_user(Role.practitioner)


@pytest.fixture
def manager(make_user: Callable[..., Actor]) -> Actor:
    return make_user(Role.manager)


@pytest.fixture
def admin_user(make_user: Callable[..., Actor]) -> Actor:
    return make_user(Role.admin)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """A real `frontdoor serve` process on a local port."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self, actor: Actor | None = None, **kwargs: Any) -> httpx.Client:
        headers = actor.headers if actor else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **kwargs)


@pytest.fixture
def live_server_factory(database_url: str, tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start real servers (several workers if asked) against the test's database."""
    started: list[LiveServer] = []

    def start(workers: int = 1, env: dict[str, str] | None = None) -> LiveServer:
        port = free_port()
        log_path = tmp_path / f"server-{port}.log"
        environment = dict(os.environ, DATABASE_URL=database_url, ENVIRONMENT="test", **(env or {}))
        exe = str(Path(sys.executable).parent / "frontdoor")
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [exe, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
                env=environment,
                cwd=tmp_path,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = LiveServer(base_url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
        started.append(server)
        # Generous: on a loaded machine a server with several workers can take longer than usual to answer.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                    return server
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in 60 s")

    yield start
    for server in started:
        if server.process.poll() is None:
            os.killpg(server.process.pid, 15)
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(server.process.pid, 9)


@pytest.fixture
def live_server(live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    return live_server_factory()
