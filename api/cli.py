"""The `frontdoor` command: serve, migrate, and bootstrap the first admin."""

from __future__ import annotations

import json
import os
import tempfile

import typer

from triage.db import get_engine, session_scope
from triage.db import migrate as run_migrations
from triage.settings import get_settings

app = typer.Typer(help="The MASH front door service.", no_args_is_help=True, add_completion=False)
admin_app = typer.Typer(help="Administration without a running server.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Worker processes."),
) -> None:
    """Serve the API (and the staff pages) with uvicorn."""
    import uvicorn

    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every worker writes its metrics here so /metrics reports the sum, whichever worker answers.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="frontdoor-metrics-")
    _hint_first_admin()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        proxy_headers=True,
        log_config=None,
        timeout_graceful_shutdown=10,
    )


def _hint_first_admin() -> None:
    import sqlalchemy as sa

    from triage.admin import admin_key_count

    try:
        with session_scope(get_engine()) as session:
            admins = admin_key_count(session=session)
    except sa.exc.SQLAlchemyError:
        return
    if admins == 0:
        typer.echo(
            "\nNo admin yet. To get the first admin key, run in another terminal:\n"
            "    .venv/bin/frontdoor admin bootstrap\n"
        )


@app.command()
def migrate() -> None:
    """Bring the database schema to the newest revision."""
    run_migrations(get_settings().database_url)
    typer.echo("Database migrated to the newest revision.")


@admin_app.command("bootstrap")
def bootstrap(as_json: bool = typer.Option(False, "--json", help='Print {"api_key": ...} only.')) -> None:
    """Migrate, then create the first admin (if none exists) and print its key once."""
    from triage.admin import bootstrap_admin
    from triage.rulesets import ensure_default_rule_set

    run_migrations(get_settings().database_url)
    with session_scope(get_engine()) as session:
        ensure_default_rule_set(session)
        issued = bootstrap_admin(session=session)
    if issued is None:
        message = "An admin already exists; ask them for a key, or revoke and reissue through the API."
        if as_json:
            typer.echo(json.dumps({"api_key": None, "detail": message}))
        else:
            typer.echo(message)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps({"api_key": issued.api_key}))
    else:
        typer.echo(f"Admin API key (shown once, keep it safe): {issued.api_key}")


@admin_app.command("set-password")
def set_password(
    email: str = typer.Argument(..., help="The staff user's email address."),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
) -> None:
    """Set a staff user's password for signing in to the web pages."""
    import sqlalchemy as sa
    from sqlmodel import col

    from schemas.tables import StaffUser
    from triage import admin
    from triage.auth import SYSTEM

    if len(password) < 12:
        typer.echo("Choose a password of at least 12 characters.", err=True)
        raise typer.Exit(2)
    with session_scope(get_engine()) as session:
        user = session.execute(
            sa.select(StaffUser).where(col(StaffUser.email) == email.strip().lower())
        ).scalar_one_or_none()
        if user is None:
            typer.echo("No staff user has that email address.", err=True)
            raise typer.Exit(1)
        admin.set_password(session=session, caller=SYSTEM, user_id=user.id, password=password)
    typer.echo("Password set.")


@app.command()
def worker(
    once: bool = typer.Option(False, help="Deliver what is due, then stop."),
) -> None:
    """Deliver webhook events from the outbox (several workers may run at once)."""
    import signal
    import threading

    from triage.webhooks import run_worker

    stop = threading.Event()
    # SIGTERM and Ctrl-C finish the delivery in hand, hand back the rest of the batch, then stop.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    attempts = run_worker(engine=get_engine(), once=once, stop=stop)
    if once:
        typer.echo(f"{attempts} webhook deliveries attempted.")


@app.command()
def simulate(
    referrals: int = typer.Option(..., min=1, help="How many referrals to create."),
    days: int = typer.Option(365, min=1, help="Spread them over this many days up to now."),
    seed: int = typer.Option(1, help="Random seed, for repeatable data."),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Fill the database with realistic synthetic referrals, stored as intake would store them."""
    import time

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from triage.simulate import simulate as run_simulation

    run_migrations(get_settings().database_url)
    started = time.perf_counter()
    columns = (TextColumn("Simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=quiet) as bar:
        task = bar.add_task("referrals", total=referrals)
        run_simulation(
            engine=get_engine(),
            referrals=referrals,
            days=days,
            seed=seed,
            progress=lambda done: bar.advance(task, done),
        )
    elapsed = time.perf_counter() - started
    typer.echo(f"{referrals} referrals simulated in {elapsed:.1f} s ({referrals / elapsed:.0f} a second).")


if __name__ == "__main__":
    app()
