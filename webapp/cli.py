"""The `event-catalog` command: Flask's CLI group plus the project's own commands.

Each command is a thin Click wrapper over a plain function; errors are one line on stderr and a
non-zero exit. Flask contributes `run`, `routes` and `shell`; Flask-Migrate contributes `db`.
"""

from __future__ import annotations

import logging
import os

import click
from flask import Flask
from flask.cli import FlaskGroup

from analytics.catalog import CATALOG
from analytics.events import SegmentEvent
from analytics.lint import lint
from webapp.config import DEFAULT_COLLECTOR_PORT
from webapp.tester.cli import send_command


@click.command("lint")
@click.option("--show-exceptions", is_flag=True, help="Also list findings a documented exception accepts.")
def lint_command(show_exceptions: bool) -> None:
    """Check the catalog's names and completeness; exit 1 with one line per finding."""
    report = lint(SegmentEvent, CATALOG.registry)
    for finding in report.findings:
        click.echo(str(finding))
    if show_exceptions:
        for finding, reason in report.excepted:
            click.echo(f"{finding} (excepted: {reason})")
    if not report.ok:
        raise click.exceptions.Exit(1)


@click.command("collector")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=lambda: int(os.environ.get("COLLECTOR_PORT") or DEFAULT_COLLECTOR_PORT),
    show_default=f"$COLLECTOR_PORT or {DEFAULT_COLLECTOR_PORT}",
    help="Port to listen on.",
)
@click.option(
    "--write-key",
    "write_keys",
    multiple=True,
    help="Accept only this write key (repeatable); by default any key is accepted, as Segment does.",
)
def collector_command(host: str, port: int, write_keys: tuple[str, ...]) -> None:
    """Run the local Segment-compatible collector until interrupted."""
    from analytics.collector import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        serve(host, port, write_keys or None)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def init_app(app: Flask) -> None:
    """Add the project's commands to the app's CLI group."""
    app.cli.add_command(lint_command)
    app.cli.add_command(collector_command)
    app.cli.add_command(send_command)


def _create_app() -> Flask:
    from webapp import create_app

    try:
        return create_app()
    except ValueError as exc:
        # A configuration variable with an unusable value: say which, in one line.
        raise click.ClickException(str(exc)) from exc


main = FlaskGroup(
    create_app=_create_app,
    help="See, test and audit every analytics event your backend sends to Segment.",
)
"""The `event-catalog` console script."""

if __name__ == "__main__":
    main()
