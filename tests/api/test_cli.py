"""The `frontdoor` command on a fresh database, as an operator meets it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

FRONTDOOR = str(Path(sys.executable).parent / "frontdoor")


def _run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FRONTDOOR, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_bootstrap_migrates_a_fresh_database_and_creates_one_admin(tmp_path: Path) -> None:
    env = dict(os.environ, ENVIRONMENT="test")
    env.pop("DATABASE_URL", None)
    first = _run("admin", "bootstrap", "--json", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    key = json.loads(first.stdout.strip().splitlines()[-1])["api_key"]
    assert key.startswith("fdk_")
    assert (tmp_path / "frontdoor.db").exists(), "the default database is a SQLite file in the working folder"
    second = _run("admin", "bootstrap", "--json", env=env, cwd=tmp_path)
    assert second.returncode == 1
    assert json.loads(second.stdout.strip().splitlines()[-1])["api_key"] is None


def test_serve_answers_with_the_bootstrapped_key(live_server_factory, database_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = dict(os.environ, DATABASE_URL=database_url, ENVIRONMENT="test")
    boot = _run("admin", "bootstrap", "--json", env=env, cwd=tmp_path)
    key = json.loads(boot.stdout.strip().splitlines()[-1])["api_key"]
    server = live_server_factory(workers=2)
    headers = {"Authorization": f"Bearer {key}"}
    created = httpx.post(
        server.base_url + "/v1/admin/organisations", json={"name": "Police", "agency": "police"}, headers=headers
    )
    assert created.status_code == 201
    metrics = httpx.get(server.base_url + "/metrics")
    assert "frontdoor_http_requests_total" in metrics.text


def test_production_refuses_a_placeholder_secret(tmp_path: Path) -> None:
    env = dict(os.environ, ENVIRONMENT="production", DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    env.pop("SECRET_KEY", None)
    result = _run("migrate", env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.parametrize("url", ["postgres://u@h/db", "postgresql://u@h/db", "postgresql+psycopg2://u@h/db"])
def test_postgres_urls_use_psycopg3(url: str) -> None:
    from triage.db import normalise_url

    assert normalise_url(url) == "postgresql+psycopg://u@h/db"
