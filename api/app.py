"""The FastAPI application: routers, error rendering, middleware and start-up."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool

import api.routers
from api import errors, openapi_docs
from api.observability import BodySizeLimitMiddleware, RequestContextMiddleware, configure_logging
from triage.db import get_engine, session_scope
from triage.rulesets import ensure_default_rule_set
from triage.settings import get_settings
from triage.webhook_worker import WorkerThread

DESCRIPTION = """
The multi-agency safeguarding hub (MASH) front door. Partner agencies send referrals about children;
the service insists on the child's voice, history and consent, rates each child against the local
threshold rules, and gives MASH staff a triage queue. Referrers are told what happened.

Authenticate every `/v1` call with `Authorization: Bearer <api key>`. Errors are RFC 9457 problem
details; a 422 lists every problem at once, each with a JSON Pointer and a prompt saying what to record.
"""


def _seed_rules() -> None:
    with session_scope(get_engine()) as session:
        ensure_default_rule_set(session)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    try:
        await run_in_threadpool(_seed_rules)
    except Exception:  # noqa: BLE001 - a database that is down at start-up must not stop the process; /readyz says so
        errors.log.warning("rule_set_seed_deferred")
    # `make run` delivers webhooks from inside the server; larger deployments run `frontdoor worker`.
    worker = WorkerThread(engine=get_engine()).start() if get_settings().run_worker_in_server else None
    try:
        yield
    finally:
        if worker is not None and not await run_in_threadpool(worker.stop):
            errors.log.warning("webhook_worker_still_busy_at_shutdown")


# Partners' busiest calls are matched first; the rest follow in name order.
FIRST = ("referrals", "feedback", "service")


def _routers() -> list[APIRouter]:
    """Every module in api/routers with a `router` (one module per resource), the busiest first."""
    found = []
    names = sorted(m.name for m in pkgutil.iter_modules(api.routers.__path__))
    for name in sorted(names, key=lambda n: (FIRST.index(n) if n in FIRST else len(FIRST), n)):
        module = importlib.import_module(f"api.routers.{name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            found.append(router)
    return found


def create_app() -> FastAPI:
    """A new application instance."""
    settings = get_settings()
    configure_logging(settings.log_level)
    app = FastAPI(
        title="MASH front door",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url="/redoc" if settings.docs_enabled else None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    errors.install(app)
    for router in _routers():
        app.include_router(router)
    openapi_docs.install(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app
