"""`event-catalog send`: the tester from the command line, through the same compose-and-send path.

`--token` is the send's idempotency key, the JSON API's `token`: a CI job that retries a step (or
runs it again after a timeout) with the same token sends once, and learns the first send's outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import IO, Any

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from analytics.scopes import SCOPES
from analytics.settings import AUDIT_KEYS
from webapp.actor import command_line_actor
from webapp.cli_secrets import uses_secrets
from webapp.extensions import db
from webapp.json_view import json_for_terminal
from webapp.tester.compose import check_sendable, compose, refuse_unknown_scope_ids
from webapp.tester.destinations import DEFAULT_NAME
from webapp.tester.forms import (
    PROP,
    RAW,
    SCOPE,
    TesterInput,
    own_properties,
    resolve_spec,
    takes_json,
    token_problem,
)
from webapp.tester.presets import find_preset, preset_values
from webapp.tester.sending import SendResult, destinations, find_destination, send
from webapp.tester.shown_json import pretty_json

CONFIRM_WITH_FLAGS = {
    "confirm_production": "pass --yes-production",
    "confirm_deprecated": "pass --yes-deprecated",
}

EXIT_BAD_INPUT = 2
EXIT_NOT_DELIVERED = 1


def _as_typed(key: str) -> str:
    """A form field's name as the command line spells it: `--scope project`, `--prop x`, `--json`."""
    if key.startswith(SCOPE):
        field = key.removeprefix(SCOPE)
        return f"--scope {SCOPES.id_fields().get(field, field)}"
    if key.startswith(PROP):
        return f"--prop {key.removeprefix(PROP)}"
    named = {
        RAW: "--json",
        "destination": "--destination",
        "spec": "EVENT",
        "confirm_deprecated": "--yes-deprecated",
        "confirm_production": "--yes-production",
    }
    return named.get(key, key)


class BadInput(click.ClickException):
    """Bad arguments: one line on stderr (no usage block, which would bury it) and exit 2."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file: IO[Any] | None = None) -> None:
        """`error: …`, as every other command says it (Click's own is `Error: …`)."""
        click.echo(f"error: {self.format_message()}", file=file, err=True)


def _pair(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise BadInput(f"{option} {text!r} is not key=value")
    return key.strip(), value.strip()


def scope_pairs(items: Iterable[str]) -> dict[str, str]:
    """`--scope project=12,cluster=4` (repeatable) into scope field names and values.

    Each id is named by its short name or its field name, over every scope (`analytics.scopes.SCOPES`):
    `billing_account=55` or `billing_account_id=55` for a scope a fork added.

    Raises:
        BadInput: a name that is no scope id (a typo would otherwise be ignored, and the id missed).
    """
    pairs = (_pair(text, "--scope") for item in items for text in item.split(","))
    fields = SCOPES.id_fields()
    field_of = {**{short: name for name, short in fields.items()}, **{name: name for name in fields}}
    scope: dict[str, str] = {}
    for key, value in pairs:
        name = field_of.get(key)
        if name is None:
            raise BadInput(f"--scope {key!r} is not a scope id: one of {', '.join(fields.values())}")
        if name in scope and scope[name] != value:
            raise BadInput(f"--scope {key!r} is given twice ({scope[name]} and {value}): give one id")
        scope[name] = value
    return scope


def prop_pairs(items: Iterable[str]) -> dict[str, list[str]]:
    """`--prop key=value` (repeatable), the values of each key in order."""
    merged: dict[str, list[str]] = {}
    for item in items:
        key, value = _pair(item, "--prop")
        merged.setdefault(key, []).append(value)
    return merged


def _prop_texts(spec: str, props: dict[str, list[str]]) -> dict[str, str]:
    """Each property's text as the form's field reads it: a repeated key gives one item per line, as
    array fields read; repeating a property that holds one value is refused, as its type error would
    otherwise quote the joined values. A JSON field's value (an object, a list of objects) is one
    JSON text, a list included."""
    info = resolve_spec(spec)
    known = own_properties(info) if info is not None else []
    lines = {p.name for p in known if p.type.startswith("array") and not takes_json(p)}
    json_fields = {p.name for p in known if takes_json(p)}
    for key, values in props.items():
        if len(values) > 1 and info is not None and key not in lines:
            holds = "one JSON value (a list as one JSON array)" if key in json_fields else "one value"
            raise BadInput(
                f"--prop {key} is given {len(values)} times ({', '.join(values)}): it holds {holds}"
            )
    return {key: "\n".join(values) for key, values in props.items()}


def check_token(token: str | None) -> str | None:
    """`--token` as the API takes its `token`: 1 to `MAX_TOKEN_LENGTH` characters.

    Raises:
        BadInput: it is empty or too long (the column that keeps it holds `MAX_TOKEN_LENGTH`).
    """
    if problem := token_problem(token):
        raise BadInput(f"--token {problem}")
    return token


def build_input(
    spec: str,
    scope: dict[str, str],
    props: dict[str, list[str]],
    raw_json: str | None,
    destination: str,
    preset: str | None,
    *,
    yes_production: bool,
    yes_deprecated: bool,
    token: str | None = None,
) -> TesterInput:
    """The command line's arguments as a tester input (a preset first, `--scope` over it)."""
    values: dict[str, str] = {}
    if preset is not None:
        found = db.session.scalar(find_preset(preset))
        if found is None:
            raise BadInput(f"no scope preset named {preset!r}")
        info = resolve_spec(spec)
        # A preset is a pool of ids: it fills what this spec's scope takes; --scope names only those.
        values = {
            k: str(v) for k, v in preset_values(found).items() if info is None or k in info.scope.model_fields
        }
    values.update(scope)
    if raw_json is not None and not raw_json.strip():
        # As `audit export --since ""`: `--json "$PROPS"` with the variable unset would otherwise send
        # an off-schema message without the event's required properties.
        raise BadInput("--json: empty: give '{}' to send no properties, or leave the option out")
    if raw_json is not None and props:
        raise BadInput("--json and --prop cannot be combined: give the properties one way")
    typed = TesterInput(
        spec=spec,
        scope=values,
        props=_prop_texts(spec, props),
        destination=destination,
        confirm_production=yes_production,
        confirm_deprecated=yes_deprecated,
        token=check_token(token),
    )
    return replace(typed, mode=RAW, raw=raw_json) if raw_json is not None else typed


def send_command_impl(typed: TesterInput, *, dry_run: bool) -> int:
    """Compose, check and send (or only print, with `dry_run`); print the message and the outcome.

    A repeat of a token already sent with sends nothing: it prints the first send's message (as the
    audit log keeps it, personal data masked) and outcome, and exits as that send would have.

    Returns:
        The exit status: 0 delivered (or a dry run), 1 not delivered (failed, dropped, or disabled
        for want of a write key; for a dry run, a message over Segment's 32 KB; a repeated token
        whose first send is still on its way or was never recorded), 2 bad input (a token already
        used for another message included).
    """
    draft = compose(typed, actor=command_line_actor())
    refuse_unknown_scope_ids(draft)
    destination = find_destination(typed.destination)
    check_sendable(draft, destination, [d.name for d in destinations()], CONFIRM_WITH_FLAGS)
    if not draft.ok or destination is None or draft.message is None:
        problems = "; ".join(f"{_as_typed(key)}: {text}" for key, text in draft.errors.items())
        # A dry run sends nothing either way: what it reports is that the message would not pass.
        click.echo(f"error: {'not valid' if dry_run else 'not sent'}: {problems}", err=True)
        return EXIT_BAD_INPUT
    for note in draft.off_schema:
        click.echo(f"warning: off-schema: {note}", err=True)
    if dry_run:
        click.echo(json_for_terminal(pretty_json(draft.message)))
        if draft.oversized:
            click.echo(f"error: dry run: {draft.oversize_warning()}", err=True)
            return EXIT_NOT_DELIVERED
        click.echo("dry run: validated, not audited, not sent", err=True)
        return 0
    result = send(draft, destination, actor=command_line_actor())
    refused = _repeat_refused(result, typed.token)
    if refused is not None:
        problem, status = refused
        click.echo(f"error: not sent: {problem}", err=True)
        return status
    entry = result.entry
    # A repeat sends nothing: what it reports is the first send, its message as the audit log keeps it
    # (keys sorted, as every copy: JSONB's order is not the order the first run printed).
    shown = entry.payload if result.duplicate and entry is not None else draft.message
    click.echo(json_for_terminal(pretty_json(shown)))
    if entry is None:
        click.echo(f"error: not sent: {result.why_not_delivered}", err=True)
        return EXIT_NOT_DELIVERED
    timing = f", {result.round_trip_ms:.0f} ms" if result.round_trip_ms is not None else ""
    http = f"HTTP {entry.http_status}" if entry.http_status else "no HTTP answer"
    where = entry.destination or destination.label
    line = f"{entry.status}: message {result.message_id} to {where} ({http}{timing})"
    if result.duplicate:
        line += f", sent before with --token {typed.token!r}: not sent again"
    if entry.status in ("failed", "dropped", "disabled"):
        click.echo(f"error: {line}: {result.why_not_delivered}", err=True)
        return EXIT_NOT_DELIVERED
    click.echo(line, err=True)
    return 0


def _repeat_refused(result: SendResult, token: str | None) -> tuple[str, int] | None:
    """Why a repeated `--token` sent nothing and has no outcome to report, with the exit status;
    None for a send, or a repeat whose first send has one (the API's 409 cases)."""
    if result.conflict:
        used = result.token_used
        return f"--token {token!r} was already used {used}: use a new token for a new message", EXIT_BAD_INPUT
    if result.in_flight:
        return (
            f"--token {token!r} is being sent by an earlier run: run again in a moment for its outcome "
            "(it is not sent twice)",
            EXIT_NOT_DELIVERED,
        )
    if result.duplicate and result.entry is None:
        why = result.why_not_delivered
        return f"--token {token!r} cannot send again: {why}: use a new token", EXIT_NOT_DELIVERED
    return None


@uses_secrets(AUDIT_KEYS)
@click.command("send")
@with_appcontext
@click.argument("event")
@click.option(
    "--scope", "scopes", multiple=True, help="Scope ids, e.g. user=1,project=12,cluster=4 (repeatable)."
)
@click.option(
    "--prop", "props", multiple=True, help="A property, key=value (repeatable); lists one item per --prop."
)
@click.option("--json", "raw_json", help="The properties as a JSON object instead (may be off-schema).")
@click.option("--preset", help="Fill the scope from a saved scope preset; --scope overrides its ids.")
@click.option(
    "--destination", default=DEFAULT_NAME, show_default=True, help="Where to send (see the tester)."
)
@click.option("--dry-run", is_flag=True, help="Validate and print the message; audit and send nothing.")
@click.option("--yes-production", is_flag=True, help="Confirm a send to a production destination.")
@click.option("--yes-deprecated", is_flag=True, help="Confirm sending a deprecated event.")
@click.option(
    "--token",
    help="Idempotency key (the JSON API's `token`, 1-64 characters, e.g. the CI run and step): "
    "the same token sends once; a repeat prints the first send's outcome.",
)
def send_command(
    event: str,
    scopes: tuple[str, ...],
    props: tuple[str, ...],
    raw_json: str | None,
    preset: str | None,
    destination: str,
    dry_run: bool,
    yes_production: bool,
    yes_deprecated: bool,
    token: str | None,
) -> None:
    """Send EVENT (a constant, an event string or an identify spec) as the tester does.

    Prints the message, then its outcome; exits 1 when it was not delivered, 2 on bad input.
    """
    try:
        typed = build_input(
            event,
            scope_pairs(scopes),
            prop_pairs(props),
            raw_json,
            destination,
            preset,
            yes_production=yes_production,
            yes_deprecated=yes_deprecated,
            token=token,
        )
        status = send_command_impl(typed, dry_run=dry_run)
    except SQLAlchemyError as exc:
        from webapp.cli import fail_on_database  # webapp.cli imports this module

        fail_on_database("use the audit log", exc)
    if status:
        raise click.exceptions.Exit(status)
