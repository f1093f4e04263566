"""The `event-catalog` command: Flask's CLI group plus the project's own commands.

Each command is a thin Click wrapper over a plain function; errors are one line on stderr and a
non-zero exit. Flask contributes `run`, `routes` and `shell`; Flask-Migrate contributes `db`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import NoReturn

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from analytics.bundles import CURRENT, BundleError, load_bundle
from analytics.catalog import CATALOG
from analytics.checkcode import check_paths
from analytics.diff import diff_bundles
from analytics.drift import drift
from analytics.durations import parse_duration
from analytics.events import SegmentEvent
from analytics.exports import FORMATS
from analytics.lint import lint
from analytics.reporting import ReportFormat, ReportLine, render, render_diff
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


def fail(message: str, status: int = 2) -> NoReturn:
    """End a command with one line on stderr and a non-zero exit."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(status)


FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in ReportFormat]),
    default=ReportFormat.TEXT.value,
    show_default=True,
    help="text: one line per finding; json: for tools; markdown: a pull-request comment.",
)


@click.command("check-code")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@FORMAT_OPTION
@click.option("--exclude", multiple=True, metavar="GLOB", help="Skip files matching this glob (repeatable).")
@click.option("--no-unused", is_flag=True, help="Do not report catalog specs the code never uses (CC005).")
def check_code_command(paths: tuple[Path, ...], fmt: str, exclude: tuple[str, ...], no_unused: bool) -> None:
    """Find analytics calls that bypass the catalog; exit 1 with one line per finding.

    Suppress a finding with `# check-code: ignore[CODE]` on its line.
    """
    try:
        findings = check_paths(paths, exclude=exclude, report_unused=not no_unused)
    except FileNotFoundError as exc:
        fail(str(exc))
    except SyntaxError as exc:
        fail(f"{exc.filename}:{exc.lineno}: {exc.msg}")
    lines = [ReportLine(f.code, f.where, f.message) for f in findings]
    ok_message = "Every analytics call goes through a catalog spec."
    click.echo(render("Analytics calls", lines, ReportFormat(fmt), ok_message=ok_message), nl=False)
    if findings:
        raise SystemExit(1)


@click.command("drift")
@click.option(
    "--since", default="30d", show_default=True, help="Window for unknown events and payload checks."
)
@FORMAT_OPTION
@with_appcontext
def drift_command(since: str, fmt: str) -> None:
    """Compare the catalog with the audit log: never sent, stale, unknown events, invalid payloads.

    Exit 1 when anything is found. Staleness uses each event's own threshold.
    """
    from webapp.extensions import db

    try:
        window = parse_duration(since)
    except ValueError as exc:
        fail(f"--since: {exc}")
    try:
        findings = drift(db.engine, since=window)
    except SQLAlchemyError as exc:
        fail(f"cannot read the audit log: {str(exc.__cause__ or exc).splitlines()[0]}")
    lines = [ReportLine(f.kind, f.subject, f.message) for f in findings]
    ok_message = "Every catalog event is being sent and every payload still validates."
    click.echo(render("Catalog drift", lines, ReportFormat(fmt), ok_message=ok_message), nl=False)
    if findings:
        raise SystemExit(1)


def export(format_name: str, output: Path | None) -> None:
    """Render the catalog in one format to a file, or to standard output without one.

    Raises:
        click.ClickException: the file cannot be written.
    """
    fmt = FORMATS[format_name]
    text = fmt.render(CATALOG)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_bytes(text.encode(fmt.encoding))
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from exc


@click.command("export")
@click.option(
    "--format",
    "format_name",
    type=click.Choice(list(FORMATS)),
    required=True,
    help="jsonschema: every JSON Schema; csv: events × properties; markdown: a tracking plan; "
    "segment-plan: a Segment Protocols tracking plan.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE, not stdout."
)
def export_command(format_name: str, output: Path | None) -> None:
    """Export the whole catalog for spreadsheets, Segment Protocols or other tools."""
    export(format_name, output)


@click.command("diff")
@click.argument("old")
@click.argument("new", default=CURRENT)
@FORMAT_OPTION
@click.option("--allow-breaking", is_flag=True, help="Exit 0 even when a change breaks data consumers.")
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="The git repository for refs (default: here).",
)
@click.option(
    "--package", default="analytics", show_default=True, help="The catalog package's path, for refs."
)
def diff_command(old: str, new: str, fmt: str, allow_breaking: bool, repo: Path, package: str) -> None:
    """Compare two catalog versions; exit 1 when a change breaks data consumers.

    OLD and NEW are each a git ref (origin/main, HEAD), an exported JSON Schema bundle
    (`event-catalog export --format jsonschema`), a running dashboard's URL, or `current`
    (the code running this command, the default for NEW).
    """
    try:
        before = load_bundle(old, repo=repo, package=package)
        after = load_bundle(new, repo=repo, package=package)
    except BundleError as exc:
        fail(str(exc))
    changes = diff_bundles(before, after)
    click.echo(render_diff(changes, ReportFormat(fmt), old=old, new=new), nl=False)
    if changes.is_breaking and not allow_breaking:
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    """Add the project's commands to the app's CLI group."""
    from webapp.auth.cli import users_command

    app.cli.add_command(lint_command)
    app.cli.add_command(collector_command)
    app.cli.add_command(check_code_command)
    app.cli.add_command(drift_command)
    app.cli.add_command(diff_command)
    app.cli.add_command(export_command)
    app.cli.add_command(send_command)
    app.cli.add_command(users_command)


def _create_app() -> Flask:
    from webapp import create_app
    from webapp.config import ConfigurationError

    try:
        return create_app()
    except ConfigurationError as exc:
        lines = "\n".join(f"  {problem}" for problem in exc.problems)
        fail(f"invalid configuration:\n{lines}")


main = FlaskGroup(
    create_app=_create_app,
    help="See, test and audit every analytics event your backend sends to Segment.",
)
"""The `event-catalog` console script."""

if __name__ == "__main__":
    main()
