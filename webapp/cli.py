"""The `event-catalog` command: Flask's CLI group plus the project's own commands.

Each command is a thin Click wrapper over a plain function; errors are one line on stderr and a
non-zero exit. Flask contributes `run`, `routes` and `shell`; Flask-Migrate contributes `db`
(`webapp.db_cli` replaces its commands that change the database).
"""

from __future__ import annotations

import copy
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeVar

import click
from click.core import ParameterSource
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo, run_command, with_appcontext
from flask.helpers import get_debug_flag
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from analytics.audit import AuditStore, sqlite_problem
from analytics.audit_failures import reason
from analytics.bundles import CURRENT, TOKEN_VARIABLE, BundleError, load_bundle
from analytics.catalog import CATALOG, SpecInfo
from analytics.checkcode import check_paths
from analytics.diff import diff_bundles
from analytics.drift import SpecFilter, drift
from analytics.durations import format_instant, parse_duration, parse_instant
from analytics.errors import AnalyticsError, SchemaError
from analytics.events import SegmentEvent
from analytics.export import INCLUDE_ATTEMPTS, Export, ExportFormat
from analytics.exports import FORMATS
from analytics.lint import lint
from analytics.owners import owners_of, who_to_ask
from analytics.plan_import import PlanError, PlanFormat, guess_format, import_plan
from analytics.queries import (
    ATTEMPTS_CHOICES,
    FILTER_PARAMS,
    OUTCOMES,
    AuditFilter,
    FilterError,
    conditions,
    parse_filters,
)
from analytics.reporting import ReportFormat, ReportLine, render, render_diff
from analytics.settings import AUDIT_KEYS
from analytics.spec import Status
from analytics.wording import counted
from webapp.actor import command_line_actor
from webapp.audit.event_names import unknown_event
from webapp.cli_repeats import with_repeats_refused
from webapp.cli_secrets import declared, uses_secrets
from webapp.cli_text import with_text_checked
from webapp.config import CHAIN_KEY, DEFAULT_COLLECTOR_PORT, SECRETS
from webapp.tester.cli import send_command


@uses_secrets()
@click.command("lint")
@click.option("--show-exceptions", is_flag=True, help="Also list findings a documented exception accepts.")
def lint_command(show_exceptions: bool) -> None:
    """Check the catalog's names and completeness; exit 1 with one line per finding."""
    report = lint(SegmentEvent, CATALOG.registry)
    for finding in report.findings:
        click.echo(str(finding))
    if show_exceptions:
        for finding, why in report.excepted:
            click.echo(f"{finding} (excepted: {why})")
    if not report.ok:
        raise click.exceptions.Exit(1)
    # Silence reads like a command that did nothing: say what was checked.
    checked = f"{len(CATALOG.events)} events and {len(CATALOG.identifiers)} identify calls"
    excepted = len(report.excepted)
    shown = "" if show_exceptions or not excepted else "; --show-exceptions lists them"
    click.echo(f"ok: {checked} checked, no findings ({excepted} documented exceptions{shown})")


@uses_secrets()
@click.command("collector")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    show_default=f"$COLLECTOR_PORT or {DEFAULT_COLLECTOR_PORT}",
    help="Port to listen on.",
)
@click.option(
    "--write-key",
    "write_keys",
    multiple=True,
    help="Accept only this write key (repeatable); by default any key is accepted, as Segment does.",
)
def collector_command(host: str, port: int | None, write_keys: tuple[str, ...]) -> None:
    """Run the local Segment-compatible collector until interrupted."""
    from analytics.collector import serve
    from webapp.config import collector_settings
    from webapp.logs import install_root_handler

    settings = _configuration(lambda: collector_settings(os.environ))
    install_root_handler(settings["LOG_FORMAT"], settings["LOG_LEVEL"], write_keys)
    port = settings["COLLECTOR_PORT"] if port is None else port
    try:
        serve(host, port, write_keys or None)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1)


def fail(message: str, status: int = 2) -> NoReturn:
    """End a command with one line on stderr and a non-zero exit."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(status)


def fail_on_database(doing: str, exc: SQLAlchemyError) -> NoReturn:
    """End a command the database refused, in one line (`database_refusal`)."""
    fail(database_refusal(doing, exc))


def database_refusal(doing: str, exc: SQLAlchemyError) -> str:
    """What the database refused: the refusal's first line, and what to do about it when that is
    clear (a SQLite file that is missing or not a database, a server that cannot be reached, a
    schema that is not this version's)."""
    from webapp.extensions import db
    from webapp.schema_guard import database_advice

    problem = sqlite_problem(db.engine)
    if problem is not None:
        return f"cannot {doing}: {problem}"
    advice = database_advice(db.engine)
    return f"cannot {doing}: {reason(exc)}" + (f" — {advice}" if advice else "")


class Terminated(BaseException):
    """SIGTERM, raised while a command runs under `sigterm_raises`. A BaseException, as
    KeyboardInterrupt is: an `except Exception` on its way does not swallow it."""


SIGTERM_EXIT = 128 + signal.SIGTERM
"""A shell's status for a program that SIGTERM stopped (143)."""
SIGINT_EXIT = 128 + signal.SIGINT
"""A shell's status for a program that Ctrl-C stopped (130)."""


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises `Terminated`; the handler before is restored after it.

    `timeout`, systemd, `docker stop` and a Kubernetes Job's deadline stop a command with SIGTERM,
    whose default ends Python on the spot: no `except` or `finally` runs, so an erasure's action
    stayed `pending` for ever. Raised, it closes what the block has open as Ctrl-C does; one that
    escapes the block ends the command in one line. Python runs handlers in the main thread only,
    and only there may set one: elsewhere (a test runner's thread) SIGTERM is left as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> NoReturn:
        raise Terminated("stopped by SIGTERM")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except Terminated as exc:
        fail(str(exc), SIGTERM_EXIT)
    finally:
        # None: a handler set outside Python, which cannot be set back; the default is the nearest.
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def verdict(
    title: str,
    lines: list[ReportLine],
    fmt: str,
    *,
    ok_message: str,
    details: dict[str, Any] | None = None,
    footer: str = "",
) -> None:
    """Print a CI command's findings in the chosen format; exit 1 when there are any.

    Args:
        details: more keys of the JSON document.
        footer: what text and Markdown print after the findings (JSON carries it in `details`).
    """
    click.echo(render(title, lines, ReportFormat(fmt), ok_message=ok_message, details=details), nl=False)
    if lines:
        if footer and fmt != ReportFormat.JSON.value:
            click.echo(footer, nl=False)
        raise SystemExit(1)


FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in ReportFormat], case_sensitive=False),
    default=ReportFormat.TEXT.value,
    show_default=True,
    help="text: one line per finding; json: for tools; markdown: a pull-request comment.",
)


@uses_secrets()
@click.command("check-code")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@FORMAT_OPTION
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Skip files whose path, path under the scanned folder or a file or folder name on it matches "
    "this glob (repeatable).",
)
@click.option("--no-unused", is_flag=True, help="Do not report catalog specs the code never uses (CC005).")
def check_code_command(paths: tuple[Path, ...], fmt: str, exclude: tuple[str, ...], no_unused: bool) -> None:
    """Find analytics calls that bypass the catalog; exit 1 with one line per finding.

    Suppress a finding with `# check-code: ignore[CODE]` on its line.
    """
    try:
        checked = check_paths(paths, exclude=exclude, report_unused=not no_unused)
    except FileNotFoundError as exc:
        fail(str(exc))
    except SyntaxError as exc:
        # A bad coding cookie is reported at line 0, a NUL byte at no line: then the file alone.
        fail(f"{exc.filename}:{exc.lineno}: {exc.msg}" if exc.lineno else f"{exc.filename}: {exc.msg}")
    lines = [ReportLine(f.code, f.where, f.message) for f in checked.findings]
    verdict("Analytics calls", lines, fmt, ok_message="Every analytics call goes through a catalog spec.")
    if fmt == ReportFormat.TEXT.value:
        # Silence read like a command that did nothing, as for `lint`; the count shows a path that
        # holds no Python at all.
        files = counted(checked.files, "Python file")
        click.echo(f"ok: {files} checked, every analytics call goes through a catalog spec")


def _chosen_specs(
    owners: tuple[str, ...], categories: tuple[str, ...], names: tuple[str, ...]
) -> SpecFilter | None:
    """The specs `drift --owner/--category/--event` reports on (each option narrows; its values add
    up), or None for the whole catalog. A name the catalog does not know ends the command: a typo
    must not turn a team's CI gate into one that reports nothing."""
    if not (owners or categories or names):
        return None
    chosen: set[str] = set()
    for name in names:
        try:
            chosen.add(CATALOG.event(name).constant)
        except KeyError:
            try:
                chosen.add(CATALOG.identifier(name).constant)
            except KeyError:
                fail(f"--event: {name!r} is neither an event nor an identify call of the catalog")

    def reported(info: SpecInfo) -> bool:
        spec = info.spec
        return (
            (not owners or str(spec.owner) in owners)
            and (not categories or str(spec.category) in categories)
            and (not names or info.constant in chosen)
        )

    return reported


def _known_owner(value: str) -> str:
    """An owner some spec declares, as the spec writes it (case aside): a `Team` member or a plain
    string (`owner="sre"`), which a choice fixed to `Team` refused."""
    return _declared(value, CATALOG.owners())


def _known_category(value: str) -> str:
    """A category some spec declares, as the spec writes it (case aside): a `Category` member or a
    plain string (`category="Commerce"`, as `event-catalog import` writes), which a choice fixed to
    `Category` refused."""
    return _declared(value, CATALOG.categories())


def _declared(value: str, declared: list[str]) -> str:
    found = next((known for known in declared if known.casefold() == value.casefold()), None)
    if found is None:
        raise click.BadParameter(f"{value!r} is not one of {', '.join(map(repr, declared))}.")
    return found


@uses_secrets()
@click.command("drift")
@click.option(
    "--since",
    default="30d",
    show_default=True,
    help="Window for unknown events, unknown identify calls and payload checks.",
)
@click.option(
    "--owner",
    "owners",
    multiple=True,
    callback=lambda _context, _param, values: tuple(_known_owner(value) for value in values),
    help="Only events and identify calls this team owns (repeatable; any owner a spec declares).",
)
@click.option(
    "--category",
    "categories",
    multiple=True,
    callback=lambda _context, _param, values: tuple(_known_category(value) for value in values),
    help="Only events and identify calls of this category (repeatable; any category a spec declares).",
)
@click.option(
    "--event",
    "names",
    multiple=True,
    help="Only this event or identify call, by its name or constant (repeatable).",
)
@FORMAT_OPTION
@with_appcontext
def drift_command(
    since: str, owners: tuple[str, ...], categories: tuple[str, ...], names: tuple[str, ...], fmt: str
) -> None:
    """Compare the catalog with the audit log: never sent, stale, deprecated or planned yet sent,
    unknown events and identify calls, invalid payloads.

    Exit 1 when anything is found. Staleness uses each event's own threshold; a planned event is not
    expected to be sent, and is reported once an application sends it. --owner, --category and
    --event gate one team's specs; unknown events and identify calls, which no spec owns, are then
    left out.
    """
    from webapp.extensions import db

    try:
        window = parse_duration(since)
    except ValueError as exc:
        fail(f"--since: {exc}")
    only = _chosen_specs(owners, categories, names)
    try:
        findings = drift(db.engine, since=window, only=only)
    except SQLAlchemyError as exc:
        fail_on_database("read the audit log", exc)
    ahead = [f for f in findings if not f.fails]
    findings = [f for f in findings if f.fails]
    lines = [ReportLine(f.kind, f.subject, f.message) for f in findings]
    ok_message = "Every catalog event is being sent and every payload still validates."
    by_owner = owners_of(findings)
    details: dict[str, Any] = {"owners": [owner.as_json() for owner in by_owner]}
    # What a newer release sent is said, not failed on: this checkout lags behind the hosts.
    details["newer_version"] = [{"subject": f.subject, "message": f.message} for f in ahead]
    if fmt != ReportFormat.JSON.value:
        for f in ahead:
            click.echo(f"note: {f.subject}: {f.message}")
    verdict(
        "Catalog drift", lines, fmt, ok_message=ok_message, details=details, footer=who_to_ask(by_owner, fmt)
    )
    if fmt == ReportFormat.TEXT.value:
        # Silence read like a command that did nothing (and like a scope that matched nothing).
        reported = only or (lambda info: True)
        events = sum(map(reported, CATALOG.events.values()))
        calls = sum(map(reported, CATALOG.identifiers.values()))
        checked = f"{counted(events, 'event')} and {counted(calls, 'identify call')}"
        # Said, so that a clean run over a plan still to be built does not read as all of it live.
        infos = [*CATALOG.events.values(), *CATALOG.identifiers.values()]
        planned = sum(reported(info) and info.spec.status is Status.PLANNED for info in infos)
        waiting = f" ({planned} planned, not expected to be sent yet)" if planned else ""
        click.echo(f"ok: {checked} checked{waiting}, no drift")


def export(format_name: str, output: Path | None) -> None:
    """Render the catalog in one format to a file, or to standard output without one (a file that
    cannot be written ends the command with one line and exit 1)."""
    fmt = FORMATS[format_name]
    text = fmt.render(CATALOG)
    if output is None:
        # `> plan.csv` gets the byte-order mark that `-o` writes (`utf-8-sig`).
        click.echo(("\ufeff" if fmt.encoding == "utf-8-sig" else "") + text, nl=False)
        return
    try:
        output.write_bytes(text.encode(fmt.encoding))
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")


@uses_secrets()
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


def import_plan_file(plan: Path, format_name: str | None, output: Path | None) -> None:
    """Write the Python of a plan file's specs to a file, or to standard output without one; each
    warning is a line on standard error, and a file that is no plan ends the command in one line."""
    try:
        text = plan.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(
            f"{plan}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            'save it as UTF-8 (in a spreadsheet, as "CSV UTF-8") and import that'
        )
    except OSError as exc:
        fail(f"cannot read {plan}: {exc.strerror or exc}")
    fmt = PlanFormat(format_name) if format_name else guess_format(plan.name, text)
    if fmt is None:
        fail(f"{plan}: cannot tell whether it is CSV or a Segment plan: give --format")
    try:
        imported = import_plan(text, fmt, plan.name)
    except PlanError as exc:
        fail(f"{plan}: {exc}")
    for warning in imported.warnings:
        click.echo(f"warning: {warning}", err=True)
    if output is None:
        click.echo(imported.source, nl=False)
    else:
        try:
            output.write_text(imported.source, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror or exc}")
    specs = f"{counted(imported.tracks, 'track spec')} and {counted(imported.identifies, 'identify spec')}"
    warned = f"; {counted(len(imported.warnings), 'warning')} above" if imported.warnings else ""
    click.echo(f"imported {specs} from {plan}{' to ' + str(output) if output else ''}{warned}", err=True)


@uses_secrets()
@click.command("import")
@click.argument("plan", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "format_name",
    type=click.Choice([str(fmt) for fmt in PlanFormat]),
    help="csv: the columns `export --format csv` writes; segment-plan: a Segment Protocols tracking "
    "plan (JSON). Guessed from the file name (.csv, .json) when left out.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE, not stdout."
)
def import_command(plan: Path, format_name: str | None, output: Path | None) -> None:
    """Write the spec classes of a CSV or Segment Protocols tracking plan, as Python to paste.

    One way: the output goes into analytics/events.py, tracks.py and identifiers.py by hand. Names
    are never changed; a name that breaks lint's rules, or anything a spec cannot say, is a comment
    in the output and a warning line on stderr.
    """
    import_plan_file(plan, format_name, output)


@uses_secrets()
@click.command("diff")
@click.argument("old")
@click.argument("new", default=CURRENT)
@FORMAT_OPTION
@click.option("--allow-breaking", is_flag=True, help="Exit 0 even when a change breaks data consumers.")
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    help="The git repository for refs (default: the working directory's).",
)
@click.option(
    "--package", default="analytics", show_default=True, help="The catalog package's path, for refs."
)
def diff_command(old: str, new: str, fmt: str, allow_breaking: bool, repo: Path | None, package: str) -> None:
    """Compare two catalog versions; exit 1 when a change breaks data consumers.

    OLD and NEW are each a git ref (origin/main, HEAD), an exported JSON Schema bundle
    (`event-catalog export --format jsonschema`), a running dashboard's URL, or `current`
    (the code running this command, the default for NEW). A dashboard is asked with the API
    token in $EVENT_CATALOG_TOKEN, when set.
    """
    for side, source in (("OLD", old), ("NEW", new)):
        if not source.strip():
            # As `diff "$BASE"` reads with the variable unset; the refusal named an empty ref (`error: : …`).
            fail(f"{side} is empty: give a git ref, a JSON file, a dashboard URL or `current`")
    token = (os.environ.get(TOKEN_VARIABLE) or "").strip() or None
    try:
        before = load_bundle(old, repo=repo, package=package, token=token)
        after = load_bundle(new, repo=repo, package=package, token=token)
    except BundleError as exc:
        fail(str(exc))
    changes = diff_bundles(before, after)
    click.echo(render_diff(changes, ReportFormat(fmt), old=old, new=new), nl=False)
    if changes.is_breaking and not allow_breaking:
        raise SystemExit(1)


def _duration_option(name: str, text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        fail(f"{name}: {exc}")


_LEFT_ALONE_CAP = 10_000
"""Most entries `replay` counts when it says how many it left alone."""


def _filters_from_options(params: dict[str, str | None]) -> AuditFilter:
    """The audit search's filters from command-line options, each refusal naming its option: the
    same parsing, messages and checks (a range's end after its start) as the dashboard's search.

    The search ignores an empty field (one left untouched on the form); an option given empty is
    refused instead, as `drift --since ''` is: `--since "$SINCE"` with the variable unset would
    otherwise export, or replay, the whole log."""
    empty = [name for name, value in params.items() if value is not None and not value.strip()]
    if empty:
        fail(
            "; ".join(
                f"--{name.replace('_', '-')}: empty: give a value, or leave the option out" for name in empty
            )
        )
    mask_key = str(current_app.config["AUDIT_MASK_KEY"]).encode()
    try:
        filters = parse_filters(
            {name: value or "" for name, value in params.items()}, mask_key=mask_key, options=True
        )
    except FilterError as exc:
        fail("; ".join(f"--{name.replace('_', '-')}: {message}" for name, message in exc.errors.items()))
    return filters


def _audit_store() -> AuditStore:
    """The app's audit store, refused with one line when the database is not at our schema."""
    from webapp.extensions import analytics_client

    store = analytics_client.store()
    try:
        store.check_schema()
    except AnalyticsError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail_on_database("read the audit log", exc)
    return store


# --- delivery follow-up and integrity (issue 6): replay, audit verify, audit purge -------------


@uses_secrets(AUDIT_KEYS)
@click.command("replay")
@click.option(
    "--status",
    "statuses",
    default="failed,pending,dropped",
    show_default=True,
    help="Statuses to re-send (failed, pending, dropped, disabled); pending only once stuck.",
)
@click.option(
    "--since", help="Only entries recorded since: ISO 8601 (UTC unless an offset) or a duration ago."
)
@click.option("--until", help="Only entries recorded before this time (same forms).")
@click.option(
    "--stuck-after",
    help="Treat pending entries older than this as stuck (default $AUDIT_STUCK_AFTER or 1h).",
)
@click.option(
    "--outcome",
    type=click.Choice(list(OUTCOMES), case_sensitive=False),
    help="Only failed and dropped entries of this class: refused (at every attempt an HTTP error, no "
    "connection, or dropped: never arrived, so never counted twice) or may_have_arrived (an attempt "
    "got no answer, e.g. a read timeout).",
)
@click.option(
    "--dry-run", is_flag=True, help="List what would be re-sent or skipped; claim and send nothing."
)
@with_appcontext
def replay_command(
    statuses: str,
    since: str | None,
    until: str | None,
    stuck_after: str | None,
    outcome: str | None,
    dry_run: bool,
) -> None:
    """Re-send entries that were not delivered, with their original messageId and timestamp.

    Segment drops a second copy of a messageId only within about 24 hours of the first (its
    de-duplication window): a re-sent entry that did arrive before, and longer ago, is counted twice.
    After the summary, one line counts the entries that may already be in Segment (the request went
    out and no answer came, or stuck pending) and one those of them that may have arrived over 24 h
    ago (from that request or since pending, not from when recorded), each when there are any;
    `--outcome refused` re-sends only what never arrived, of which Segment has no copy. One more line
    counts the pending entries not stuck yet (a crashed process left them), when there are any, with
    when they will be and the --stuck-after that re-sends them now. Each attempt is recorded against
    the original entry; no entry is ever added. Exit 1 when an entry was skipped or is still not
    delivered (each is listed), 0 otherwise; a dry run exits 1 when an entry would be skipped, as the
    real run would.
    """
    from analytics.replay import (
        Candidate,
        ReplayError,
        ReplaySelection,
        count_replayable,
        not_stuck_yet,
        open_replay_client,
        parse_statuses,
        record_replay,
    )
    from analytics.replay import replay as run_replay
    from webapp.tester.sending import own_destination

    try:
        chosen_statuses = parse_statuses(statuses)
    except ValueError as exc:
        fail(f"--status: {exc}")
    if (
        outcome is not None
        and click.get_current_context().get_parameter_source("statuses") is ParameterSource.DEFAULT
    ):
        # The default's `pending` has no outcome: `--outcome` alone re-sends its class's statuses.
        chosen_statuses = tuple(status for status in chosen_statuses if status in OUTCOMES[outcome])
    # The audit search's filters, as the dashboard's re-send widget narrows its selection with them;
    # a typed `--status` the outcome cannot have is refused there, as on the page.
    status = ",".join(chosen_statuses)  # as replay reads it: in any case (`--status Failed`), kept lowercase
    view = _filters_from_options({"since": since, "until": until, "status": status, "outcome": outcome})
    selection = ReplaySelection(
        statuses=chosen_statuses,
        filters=tuple(conditions(view)),
        stuck_after=(
            _duration_option("--stuck-after", stuck_after)
            if stuck_after is not None
            else current_app.config["AUDIT_STUCK_AFTER"]
        ),
        destination=own_destination().label,
    )

    def show(candidate: Candidate) -> None:
        if dry_run or candidate.skip_reason or candidate.outcome != "delivered":
            click.echo(candidate.line())

    store = _audit_store()
    client = None
    try:
        if not dry_run:
            client = open_replay_client(
                store,
                current_app.config["SEGMENT_WRITE_KEY"],
                current_app.config["SEGMENT_HOST"],
                actor=command_line_actor(),
            )
        report = run_replay(store, client, selection, dry_run=dry_run, on_candidate=show)
        record_replay(
            store,
            report,
            actor=command_line_actor(),
            selection=_options_given(
                {
                    "--status": ("statuses", status),
                    "--since": ("since", since),
                    "--until": ("until", until),
                    "--stuck-after": ("stuck_after", stuck_after),
                    "--outcome": ("outcome", outcome),
                }
            ),
            destination=selection.destination,
        )
    except ReplayError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail_on_database("read the audit log", exc)
    finally:
        if client is not None:
            client.shutdown()
    click.echo(report.summary())
    for line in report.risk_lines():
        click.echo(line)
    now = datetime.now(UTC)
    left_alone = count_replayable(selection, now, cap=_LEFT_ALONE_CAP, elsewhere=True)
    with store.engine.connect() as connection:
        elsewhere = connection.scalar(left_alone) or 0
        waiting = not_stuck_yet(connection, selection, now)
    if waiting is not None:
        threshold = "--stuck-after" if stuck_after is not None else "AUDIT_STUCK_AFTER"
        click.echo(waiting.line(threshold, f"--stuck-after {waiting.stuck_after_now}"))
    if elsewhere:
        shown = f"{_LEFT_ALONE_CAP}+" if elsewhere > _LEFT_ALONE_CAP else str(elsewhere)
        click.echo(
            f"left alone: {shown} sent by the tester to other destinations, with keys a replay does "
            "not have (use Edit and send on their entries)"
        )
    # A dry run cannot know what will be delivered, but a skip is certain: a script alerting on the
    # dry run's status learns of entries that can never be re-sent.
    if report.skipped if dry_run else (report.selected and not report.ok):
        raise SystemExit(1)


def _options_given(options: dict[str, tuple[str, str | None]]) -> str:
    """The options as the operator gave them (`--outcome refused`), for the *Messages Re-sent* action.

    A default is left out: written in, `--status failed,pending,dropped --outcome refused` reads as if
    pending entries were asked for, which `--outcome` leaves alone (and refuses when typed).

    Args:
        options: each option's name on the command line, its parameter's name and its value.
    """
    context = click.get_current_context()
    return " ".join(
        f"{option} {value}"
        for option, (parameter, value) in options.items()
        if value and context.get_parameter_source(parameter) is not ParameterSource.DEFAULT
    )


audit = click.Group("audit", help="Review, verify, purge and erase from the audit log.")


_FINDINGS_SHOWN = 50
"""Findings `audit verify` prints as text: past a screenful, a count of the rest reads better than a
flood scrolling the summary away (JSON, for tools, keeps every one)."""


@uses_secrets(CHAIN_KEY)
@audit.command("verify")
@FORMAT_OPTION
@click.option(
    "--heads", is_flag=True, help="Also print each writer's last entry (seq and hash), to keep elsewhere."
)
@with_appcontext
def audit_verify_command(fmt: str, heads: bool) -> None:
    """Check every entry's hash chain; exit 1 listing each gap, edit or deletion with its entries.

    Needs the AUDIT_CHAIN_KEY the entries were written with, and after a rotation the former keys in
    AUDIT_CHAIN_KEYS_RETIRED; the summary says what each retired key still verifies.
    """
    from analytics.integrity import UNCLAIMED, verify

    store = _audit_store()
    try:
        report = verify(store.engine, store.chain_key, retired_keys=store.retired_chain_keys)
    except SQLAlchemyError as exc:
        fail_on_database("read the audit log", exc)
    lines = [ReportLine(f.kind, f.writer_id, f.detail) for f in report.findings]
    if report.unclaimed:
        detail = UNCLAIMED.format(entries=counted(report.unclaimed, "entry"))
        lines.append(ReportLine("unclaimed", "audit_message_ids", detail))
    if report.no_entry_matches:
        lines = [ReportLine("no-entry-matches", "AUDIT_CHAIN_KEY", report.summary())]
    elif fmt == ReportFormat.TEXT and len(lines) > _FINDINGS_SHOWN:
        rest = len(lines) - _FINDINGS_SHOWN
        more = f"{counted(rest, 'more problem')}: --format json lists every one"
        lines = [*lines[:_FINDINGS_SHOWN], ReportLine("and", "…", more)]
    chains = (
        [(writer_id, seq, head) for writer_id, (seq, head) in sorted(report.heads.items())] if heads else []
    )
    # The counts the text's summary line gives, so that a tool reading JSON has them too.
    details: dict[str, Any] = {
        "entries": report.entries,
        "chains": len(report.heads),
        "checkpoints": report.checkpoints,
        "retired_key_chains": report.retired_key_chains,
        "retired_keys": [use.as_json(at) for at, use in enumerate(report.retired_keys, 1)],
        "unclaimed": report.unclaimed,
        "summary": report.summary(),
    }
    if heads:
        details["heads"] = [{"writer_id": w, "seq": seq, "hash": h} for w, seq, h in chains]
    output = render(
        "Audit log integrity", lines, ReportFormat(fmt), ok_message=report.summary(), details=details
    )
    if fmt != ReportFormat.TEXT or not report.no_entry_matches:
        click.echo(output, nl=False)
    if fmt == ReportFormat.TEXT:
        click.echo(report.summary())
        for writer_id, seq, head in chains:
            click.echo(f"head {writer_id} {seq} {head}")
    elif fmt == ReportFormat.MARKDOWN and chains:
        rows = "".join(f"| `{writer_id}` | {seq} | `{head}` |\n" for writer_id, seq, head in chains)
        click.echo(f"\n| Writer | Last seq | Head hash |\n| --- | --- | --- |\n{rows}", nl=False)
    if not report.ok:
        raise SystemExit(1)


@uses_secrets(CHAIN_KEY)
@audit.command("claim-ids")
@with_appcontext
def audit_claim_ids_command() -> None:
    """Claim the message id of each entry written without its claim; exit 1 naming ids entries share.

    An application host of a release before 0007 left running through the upgrade writes entries
    whose message id is not claimed, so a later entry with the same id is not refused (`audit verify`
    counts them). Restart such hosts on this release first; then this claims what they left. Safe to
    run again. Ids two entries already hold are listed, never merged: both entries stay.
    """
    from analytics.message_claims import claim_missing

    store = _audit_store()
    try:
        report = claim_missing(store.engine)
    except SQLAlchemyError as exc:
        fail_on_database("claim message ids", exc)
    for shared in report.shared:
        click.echo(shared.describe())
    if report.shared_count > len(report.shared):
        click.echo(f"and {counted(report.shared_count - len(report.shared), 'more shared message id')}")
    click.echo(report.summary())
    if report.shared_count:
        raise SystemExit(1)


_SHORTEST_UNCONFIRMED_RETENTION = timedelta(days=1)
"""A purge keeping less than this deletes today's log: likely `1m` typed for a month (m is minutes)."""


@uses_secrets(CHAIN_KEY)
@audit.command("purge")
@click.option("--older-than", help="Delete entries recorded longer ago than this (e.g. 90d).")
@click.option(
    "--before",
    help="Delete entries recorded before this time: ISO 8601 (UTC unless an offset), as a dry run prints.",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted, and say the cutoff.")
@click.option("--yes", "confirmed", is_flag=True, help="Purge even when the cutoff is less than a day ago.")
@with_appcontext
def audit_purge_command(older_than: str | None, before: str | None, dry_run: bool, confirmed: bool) -> None:
    """Delete old entries and their attempts in batches; the purge is recorded as an entry of its own.

    Give --older-than or --before. On PostgreSQL, partitions wholly older than the cut-off are dropped
    instead of deleted row by row. Checkpoints keep `audit verify` green across what was removed. Purge
    records are never purged. A cut-off less than a day ago needs --yes.
    """
    from analytics.retention import purge

    now = datetime.now(UTC)
    cutoff, period = _purge_cutoff(older_than, before, now)
    recent = now - cutoff < _SHORTEST_UNCONFIRMED_RETENTION
    if recent and not (dry_run or confirmed):
        given = f"--older-than: {older_than!r}" if older_than else f"--before: {before!r}"
        units = " (m is minutes, d days, w weeks)" if older_than else ""
        fail(
            f"{given} keeps less than a day of the log{units}: "
            "see what it would delete with --dry-run, and pass --yes if you mean it"
        )
    store = _audit_store()
    try:
        report = purge(store, cutoff, period=period, actor=command_line_actor(), now=now, dry_run=dry_run)
    except SQLAlchemyError as exc:
        fail_on_database("purge the audit log", exc)
    click.echo(report.summary())
    if dry_run and report.entries and (older_than or recent):
        # Run later, --older-than reaches later entries (the incident window, a few seconds on): the
        # same cutoff deletes what was counted. A recent cutoff is refused without --yes: a dry run
        # that only said "would delete" left the real run's refusal to come as a surprise.
        again = f"event-catalog audit purge --before {format_instant(cutoff, 'microseconds')}"
        needs_yes = ", keeping less than a day of the log (so --yes)" if recent else ""
        click.echo(f"to delete what this counted{needs_yes}: {again}{' --yes' if recent else ''}")


def _purge_cutoff(
    older_than: str | None, before: str | None, now: datetime
) -> tuple[datetime, timedelta | None]:
    """The cutoff, and the retention period it was counted back from `now` when --older-than gave
    one (the purge records a period as such), from whichever of the two options was given."""
    if older_than and before:
        fail("--older-than and --before: give one of them, not both")
    if older_than:
        period = _duration_option("--older-than", older_than)
        return now - period, period
    if not before:
        fail("give --older-than (a retention period like 90d) or --before (a time like 2026-03-01T14:00)")
    try:
        return parse_instant(before, now), None
    except ValueError as exc:
        fail(f"--before: {exc}")


@uses_secrets(AUDIT_KEYS)
@audit.command("erase")
@click.option(
    "--user-id",
    "user_ids",
    multiple=True,
    required=True,
    help="The userId whose personal data to erase (repeat for several requests).",
)
@click.option("--dry-run", is_flag=True, help="Only count the entries that would change.")
@with_appcontext
def audit_erase_command(user_ids: tuple[str, ...], dry_run: bool) -> None:
    """Erase a person's personal data from the audit log: clear the sealed originals of their entries.

    Masks, the user id, events and delivery history stay; `audit verify` keeps passing. Each user id
    is recorded as a Personal Data Erased action (admins only), even with nothing to erase, unless it
    is a dry run. One line per user id, starting with how many entries changed. An erasure stopped
    (a database error, Ctrl-C, SIGTERM) ends the command with a line naming its user id, what it
    erased and the ids not attempted.
    """
    from analytics.erasure import erase

    # Every id is checked before any is erased: a typo among several stops the whole request.
    if any(not user_id.strip() for user_id in user_ids):
        fail("--user-id: empty: give the user id whose personal data to erase")
    wanted = [str(_filters_from_options({"user_id": user_id}).user_id) for user_id in user_ids]
    store = _audit_store()
    requests = list(dict.fromkeys(wanted))
    with sigterm_raises():
        for at, user_id in enumerate(requests):
            try:
                report = erase(store, user_id, actor=command_line_actor(), dry_run=dry_run)
            except AnalyticsError as exc:
                fail(str(exc))
            except (SQLAlchemyError, KeyboardInterrupt, Terminated) as exc:
                _erasure_stopped(user_id, exc, requests[at + 1 :])
            click.echo(report.summary())


def _erasure_stopped(user_id: str, exc: BaseException, left: list[str]) -> NoReturn:
    """End `audit erase` at the user id something stopped: what its action was closed with (what it
    erased, what to run again) or, stopped before, why; then the ids after it, which were neither
    erased nor recorded: the command ended without a word of them."""
    notes = getattr(exc, "__notes__", [])
    if notes:
        what = notes[-1]  # erase() adds its action's error
    elif isinstance(exc, SQLAlchemyError):
        what = database_refusal("erase personal data from the audit log", exc)
    else:
        what = reason(exc)
    not_attempted = f"; not attempted: {', '.join(left)}" if left else ""
    status = {Terminated: SIGTERM_EXIT, KeyboardInterrupt: SIGINT_EXIT}.get(type(exc), 2)
    fail(f"user {user_id}: {what}{not_attempted}", status)


# --- PostgreSQL partitions of the audit log (issue 9): audit partitions ensure / list --------------


partitions_group = click.Group(
    "partitions", help="The audit log's time partitions on PostgreSQL (SQLite has one plain table)."
)


@uses_secrets(CHAIN_KEY)
@partitions_group.command("ensure")
@click.option(
    "--ahead",
    metavar="N",
    help="Periods to create after the current one (default $AUDIT_PARTITIONS_AHEAD or 3).",
)
@click.option(
    "--log",
    "as_log",
    is_flag=True,
    help="Write the summary as a log line (LOG_FORMAT's, JSON in the image), not on standard output.",
)
@with_appcontext
def partitions_ensure_command(ahead: str | None, as_log: bool) -> None:
    """Create the partitions of this period and the next ones; move waiting rows out of the default one.

    The period is $AUDIT_PARTITION_INTERVAL (month unless set to week or day). Run it daily, next
    to `audit purge`: the application also runs it at start, but a process can outlive its
    partitions. Safe to run from several places at once.
    """
    from analytics.partitions import ensure, parse_ahead

    periods = current_app.config["AUDIT_PARTITIONS_AHEAD"]
    if ahead is not None:
        try:
            periods = parse_ahead(ahead)
        except ValueError as exc:
            fail(f"--ahead: {exc}")
    store = _audit_store()
    try:
        report = ensure(store.engine, interval=current_app.config["AUDIT_PARTITION_INTERVAL"], ahead=periods)
    except SQLAlchemyError as exc:
        fail_on_database("create audit partitions", exc)
    if as_log:
        # The start script's output is the container's log, whose every line is a log line.
        logging.getLogger(__name__).info("audit partitions: %s", report.summary())
    else:
        click.echo(report.summary())


@uses_secrets(CHAIN_KEY)
@partitions_group.command("list")
@with_appcontext
def partitions_list_command() -> None:
    """List the audit log's partitions, oldest first, with the rows waiting in the default one."""
    from analytics.partitions import DEFAULT_PARTITION, partitions

    store = _audit_store()
    try:
        with store.engine.begin() as connection:
            found = partitions(connection)
            count = text(f'SELECT count(*) FROM "{DEFAULT_PARTITION}"')
            waiting = connection.scalar(count) if any(p.start is None for p in found) else 0
    except SQLAlchemyError as exc:
        fail_on_database("read the audit partitions", exc)
    if not found:
        click.echo("the audit log is one plain table on this database (SQLite): nothing to partition")
        return
    for partition in found:
        suffix = f", {counted(waiting, 'row')} waiting for a partition" if partition.start is None else ""
        click.echo(partition.describe() + suffix)


audit.add_command(partitions_group)


# --- audit review (issue 6): audit export ----------------------------------------------------------


def _warn_of_an_unknown_destination(destination: str | None) -> None:
    """A destination no one configures is most likely a typo; the log may still hold sends to an
    earlier one, so this only warns, as the audit page does under an empty result."""
    from webapp.tester.sending import destination_named_by

    if destination and destination_named_by(destination) is None:
        click.echo(
            f"warning: no destination named {destination.partition(':')[0]!r} is configured now", err=True
        )


# Each filter option arrives under the dashboard's query-string name for the same filter.
@uses_secrets(AUDIT_KEYS)
@audit.command("export")
@click.option("--since", help="Recorded at or after: ISO 8601 (UTC unless an offset) or a duration ago.")
@click.option("--until", help="Recorded before this time (same forms).")
@click.option("--range", "range", metavar="15m|1h|24h|7d", help="Recorded within this long before now.")
@click.option("--event", help="The event string, e.g. 'Cluster Provisioning Success'.")
@click.option("--type", "type", metavar="TYPE", help="track, identify, action or purge.")
@click.option("--status", help="Statuses, comma-separated (e.g. failed,pending).")
@click.option("--source", help="application, tester, replay, dashboard or retention.")
@click.option("--destination", help="A tester destination: a name (any key) or name:fingerprint (one key).")
@click.option("--actor", help="Who sent it (tester and replay sends).")
@click.option("--user-id", help="The message's userId.")
@click.option("--project", help="The project id (proj_id).")
@click.option("--cluster", help="The cluster id.")
@click.option("--message-id", help="One message id.")
@click.option("--version", help="The catalog version that built the messages.")
@click.option(
    "--prop",
    metavar="KEY=VALUE",
    help="A property (or trait) value, KEY a name or a nested path (payment_method.kind, line_items[].sku); "
    "personal data matches too.",
)
@click.option(
    "--outcome",
    type=click.Choice(list(OUTCOMES), case_sensitive=False),
    help="Undelivered messages: refused (at every attempt an HTTP error, no connection, or dropped: never "
    "arrived) or may_have_arrived (an attempt, the latest or an earlier one, got no answer: a read "
    "timeout, or a connection closed after the request went out).",
)
@click.option("--http-status", help="The HTTP status of the latest outcome, e.g. 500.")
@click.option(
    "--attempts",
    type=click.Choice(list(ATTEMPTS_CHOICES), case_sensitive=False),
    help="failed: entries recorded in the range that had a failed or dropped delivery attempt in it too (the "
    "range bounds both), whatever their status now; replayed: that a replay re-sent in it.",
)
@click.option(
    "--format",
    "export_format",
    type=click.Choice([str(f) for f in ExportFormat], case_sensitive=False),
    default=str(ExportFormat.CSV),
    show_default=True,
    help="csv: one row per entry, the message as JSON in the last column; ndjson: one object per line.",
)
@click.option(
    "--include",
    type=click.Choice([INCLUDE_ATTEMPTS], case_sensitive=False),
    help="attempts: each entry's delivery attempts too, an attempts array in NDJSON, summary columns "
    "(count, first failure, last attempt) in CSV.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (complete or not at all) instead of standard output.",
)
@with_appcontext
def audit_export_command(
    export_format: str, output: Path | None, include: str | None, **options: str | None
) -> None:
    """Export the audit entries that match the filters, newest first, as CSV or NDJSON.

    The same filters as the dashboard's audit search; streamed, so any size exports in constant
    memory. With -o, prints how many entries were written. Personal data is written as stored,
    masked, whoever runs it (the dashboard's export unmasks it for engineers and admins).
    """
    from webapp.extensions import db

    filters = _filters_from_options({name: options.get(name) for name in FILTER_PARAMS})
    try:
        unknown = unknown_event(db.session, filters)
    except SQLAlchemyError as exc:
        fail_on_database("read the audit log", exc)
    if unknown:
        fail(f"--event: {unknown}")
    _warn_of_an_unknown_destination(filters.destination)
    export = Export(db.engine, filters, ExportFormat(export_format), attempts=include == INCLUDE_ATTEMPTS)
    try:
        if output is None:
            export.write_to(sys.stdout)
        else:
            rows = export.save(output)
            click.echo(f"exported {counted(rows, 'entry')} to {output}", err=True)
    except BrokenPipeError:
        raise  # the reader stopped early: the group ends the command quietly
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    except SQLAlchemyError as exc:
        fail_on_database("read the audit log", exc)


def init_app(app: Flask) -> None:
    """Add the project's commands to the app's CLI group."""
    from webapp.auth.cli import users_command
    from webapp.db_cli import db_group

    # Replaces the `db` group Flask-Migrate added (`migrate.init_app` runs first).
    app.cli.add_command(db_group())
    app.cli.add_command(lint_command)
    app.cli.add_command(check_code_command)
    app.cli.add_command(drift_command)
    app.cli.add_command(diff_command)
    app.cli.add_command(export_command)
    app.cli.add_command(import_command)
    app.cli.add_command(send_command)
    app.cli.add_command(users_command)
    app.cli.add_command(replay_command)
    app.cli.add_command(audit)
    refusing_bad_input(app.cli)


def refusing_bad_input(command: click.Command) -> click.Command:
    """`command` and its subcommands refusing, in one line, what Click would take silently or pass on
    to a traceback: a single-valued option given twice (Click kept the last value:
    `webapp.cli_repeats`) and text that is not UTF-8 (`webapp.cli_text`). Both the group's own
    commands and the app's go through here, so no command is left without either check."""
    return with_text_checked(with_repeats_refused(command))


T = TypeVar("T")


def _configuration(load: Callable[[], T]) -> T:
    """What `load` reads from the configuration; its problems end the command, one line each."""
    from webapp.config import ConfigurationError

    try:
        return load()
    except ConfigurationError as exc:
        lines = "\n".join(f"  {problem}" for problem in exc.problems)
        fail(f"invalid configuration:\n{lines}")


def _create_app() -> Flask:
    """The app for a command: its production secrets are checked by each command, those it uses
    (`webapp.cli_secrets`), rather than all of the dashboard's by every command."""
    from webapp import create_app

    return _configuration(lambda: create_app(secrets={}))


class DevelopmentServer(click.Command):
    """Flask's `run`, refused with Werkzeug's debugger on under `APP_ENV=production`: its console
    runs any Python that someone who reaches an error page types, behind only a PIN printed in the
    log, so a `run --debug --host 0.0.0.0` on a production host hands out the machine.

    It listens on `$PORT` when neither `--port` nor Flask's `FLASK_RUN_PORT` says otherwise, as the
    image's gunicorn and `collector` (with `$COLLECTOR_PORT`) do: Flask's `run` alone took 5000."""

    def invoke(self, ctx: click.Context) -> Any:
        debugger = ctx.params.get("debugger")
        if debugger is None:  # as Flask decides: --debug or FLASK_DEBUG=1 turns it on
            debugger = get_debug_flag()
        info = ctx.find_object(ScriptInfo)
        if (
            info is not None
            and "PORT" in os.environ
            and ctx.get_parameter_source("port") is ParameterSource.DEFAULT
        ):
            ctx.params["port"] = info.load_app().config["PORT"]  # checked there: one line when it is no port
        if debugger and info is not None and info.load_app().config["APP_ENV"] == "production":
            fail(
                "APP_ENV=production refuses the debugger (run --debug, --debugger or FLASK_DEBUG=1): "
                "its console runs any code a visitor types; serve with gunicorn (scripts/start.sh)"
            )
        return super().invoke(ctx)


def _port_in_range(param: click.Parameter) -> click.Parameter:
    """Flask's `run --port` (and `FLASK_RUN_PORT`) with `collector --port`'s range: it took any
    integer, and the socket's bind() refused one outside 0-65535 with a traceback."""
    if param.name != "port":
        return param
    checked = copy.copy(param)  # Flask's own `run` command keeps its option unchanged
    checked.type = click.IntRange(0, 65535)
    return checked


_FLASK_OPTIONS_LEFT_OUT = frozenset({"app", "env_file", "debug"})
_PLUGIN_COMMANDS_LEFT_OUT = frozenset({"limiter"})
_FLASK_COMMAND_SECRETS = {"shell": SECRETS, "routes": {}}
"""The secrets of Flask's other commands: `shell` opens the dashboard's app, with all it can do;
`routes` lists its URLs."""


class CatalogGroup(FlaskGroup):
    """Flask's command group for this one application.

    Refusals end a command in one line, not a traceback or a usage block: a database this version
    cannot write (the library's SchemaError, saying what to do), and Click's own (a bad option value,
    an unknown command: `_refuse`), text that is not UTF-8 in any command's options and arguments
    included (`webapp.cli_text`). `--version` is this package's. Left
    out: Flask's `--app` (the application is always this one), `--env-file` (it needs
    python-dotenv, which is not installed: configuration is the environment) and `--debug`
    (`FLASK_DEBUG=1` still applies), and Flask-Limiter's `limiter` commands, which need extras
    not installed either. `run` refuses the debugger in production (`DevelopmentServer`).

    `collector` is the group's own command, not the app's: Flask builds the app (and checks the
    dashboard's configuration) only for the app's commands, and the collector needs none of it. The
    image sets `APP_ENV=production` for its collector too. Each command checks the production
    secrets it declares (`webapp.cli_secrets`); Flask's `shell` and `routes` are declared on copies,
    leaving Flask's own command objects, shared by the process, as they are.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(add_version_option=False, load_dotenv=False, **options)
        self.params = [param for param in self.params if param.name not in _FLASK_OPTIONS_LEFT_OUT]
        self.add_command(collector_command)
        server = DevelopmentServer(
            name=run_command.name,
            params=[_port_in_range(param) for param in run_command.params],
            callback=run_command.callback,
            help=run_command.help,
            short_help=run_command.short_help,
        )
        self.add_command(declared(server, SECRETS, own=True))  # it is the dashboard
        for name, secrets in _FLASK_COMMAND_SECRETS.items():
            # A copy: Flask's command objects are shared by every group in the process.
            self.add_command(declared(copy.copy(self.commands[name]), secrets))
        refusing_bad_input(self)  # the app's own commands are checked by `init_app`

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in super().list_commands(ctx) if name not in _PLUGIN_COMMANDS_LEFT_OUT]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return None if name in _PLUGIN_COMMANDS_LEFT_OUT else super().get_command(ctx, name)

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.ClickException as exc:
            _refuse(exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # inside: a reader gone shows here, not at the interpreter's exit
            return result
        except BrokenPipeError:
            _reader_went_away()
        except SchemaError as exc:
            fail(str(exc))
        except OperationalError as exc:
            # A command that does not say so itself (Flask-Migrate's `db upgrade`): the database
            # cannot be reached, in one line rather than a traceback.
            fail_on_database("use the database", exc)
        except click.ClickException as exc:
            # Some refusals come without their command's context (Click's "requires an argument"):
            # the command this group was running still has the help that lists it.
            running = " ".join(filter(None, [ctx.command_path, ctx.invoked_subcommand]))
            _refuse(exc, running)


SIGPIPE_EXIT = 128 + signal.SIGPIPE
"""A shell's status for a program that a closed pipe stopped (141)."""


def _reader_went_away() -> NoReturn:
    """A reader that stopped early (`audit export | head`) is not an error: end silently with the
    status of a program the closed pipe stopped, as `git log | head` does. Click's own answer, exit
    1, is `audit verify`'s status for a broken chain, which a monitoring script would take for
    tampering."""
    # What is still buffered for the closed pipe would fail again as the interpreter exits.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    raise SystemExit(SIGPIPE_EXIT)


def _refuse(exc: click.ClickException, running: str | None = None) -> NoReturn:
    """Click's own refusals (a bad option value, a missing argument, an unknown command) in one
    line that names where the help is, rather than a usage block and `Error:`. A group given no
    command still shows its help."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        raise exc
    context = getattr(exc, "ctx", None)
    where = context.command_path if context is not None else running
    help_hint = f"; see `{where} --help`" if where else ""
    # Click spreads some messages over lines (a missing option's choices, one per line).
    message = " ".join(exc.format_message().split()).rstrip(".")
    fail(f"{message}{help_hint}", exc.exit_code)


main = click.version_option(package_name="event-catalog", message="event-catalog %(version)s")(
    CatalogGroup(
        create_app=_create_app,
        help="See, test and audit every analytics event your backend sends to Segment.",
    )
)
"""The `event-catalog` console script."""

if __name__ == "__main__":
    main()
