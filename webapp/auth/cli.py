"""`event-catalog users …`: manage accounts from the command line (how a production admin starts).

Passwords are prompted for, or read from standard input with `--password-stdin`, never taken as an
argument (arguments end up in shell history and process lists). `users token …` manages any
account's API tokens. Changes are recorded in the audit log against `cli:<login>`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from analytics.durations import as_utc, format_instant
from analytics.settings import AUDIT_KEYS
from webapp.actor import command_line_actor
from webapp.auth import accounts, tokens
from webapp.auth.identity import PROXY
from webapp.auth.models import ApiToken
from webapp.auth.roles import Role
from webapp.cli import fail, fail_on_database
from webapp.cli_secrets import uses_secrets
from webapp.display_width import display_width, pad
from webapp.extensions import db
from webapp.readable_names import for_terminal

users_command = AppGroup("users", help="Manage dashboard accounts and their roles.")

ROLE_HELP = "viewer, engineer or admin."


def _role(raw: str) -> Role:
    try:
        return Role.parse(raw)
    except ValueError as exc:
        fail(str(exc))


def _read_password(from_stdin: bool) -> str:
    if sys.stdin is None:
        # Standard input closed (`<&-`): Python has no stream to read from, or to prompt on.
        fail("no password: standard input is closed (pipe the password in with --password-stdin)")
    if from_stdin:
        # Bytes, whatever the locale: bytes that are not UTF-8 reach check_password, which refuses them.
        return sys.stdin.buffer.readline().decode("utf-8", "surrogateescape").rstrip("\r\n")
    try:
        password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    except click.Abort:
        # The end of input (nothing piped) or Ctrl-C at the prompt.
        click.echo(err=True)
        fail("no password given: type it at the prompt, or pipe it in with --password-stdin")
    return password


_ACCOUNTS_TABLE, _TOKENS_TABLE = "the accounts table", "the API tokens table"


def _run(action: Callable[[], Any], table: str = _ACCOUNTS_TABLE) -> Any:
    """Run an account or token change; its refusals and database errors (naming the `table` it
    uses) end the command in one line."""
    try:
        return action()
    except (accounts.AccountError, tokens.TokenError) as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        db.session.rollback()
        fail_on_database(f"use {table}", exc)


@uses_secrets(AUDIT_KEYS)
@users_command.command("add")
@click.argument("email")
@click.option("--role", default=Role.VIEWER.value, show_default=True, help=ROLE_HELP)
@click.option("--name", "display_name", help="Display name (optional).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input's first line.")
def add_command(email: str, role: str, display_name: str | None, password_stdin: bool) -> None:
    """Create an account; prompts for its password (none behind the sign-in proxy)."""
    chosen = _role(role)
    _run(lambda: accounts.new_email(email))
    _run(lambda: accounts.checked_display_name(display_name))
    password = None if current_app.config["AUTH_MODE"] == PROXY else _read_password(password_stdin)
    user = _run(
        lambda: accounts.add_user(
            email, password, chosen, actor=command_line_actor(), display_name=display_name
        )
    )
    click.echo(f"added {user.email} as {user.role}")


LIST_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: aligned columns; json: one document for scripts (times in ISO 8601, null for never).",
)


def _json(rows: list[dict[str, Any]], key: str) -> None:
    """A list as one JSON document (`{"accounts": [...]}`), empty lists included."""
    click.echo(json.dumps({key: rows}, indent=2))


@uses_secrets()
@users_command.command("list")
@LIST_FORMAT
def list_command(fmt: str) -> None:
    """List accounts: email, role, state, last sign-in, display name."""
    users = _run(lambda: db.session.scalars(accounts.users_query()).all())
    if fmt == "json":
        accounts_json = [
            {
                "email": user.email,
                "role": str(user.role),
                "active": user.active,
                "last_sign_in": format_instant(user.last_login_at),
                "name": user.display_name,
            }
            for user in users
        ]
        _json(accounts_json, "accounts")
        return
    if not users:
        click.echo("no accounts yet: add one with `event-catalog users add EMAIL --role admin`")
        return
    rows = [
        (
            user.email,
            str(user.role),
            "active" if user.active else "disabled",
            _when(user.last_login_at),
            user.display_name or "",
        )
        for user in users
    ]
    _table(("EMAIL", "ROLE", "STATE", "LAST SIGN-IN (UTC)", "NAME"), rows)


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Print rows under their headers in aligned columns (names escaped: see `webapp.readable_names`),
    by the columns a terminal gives each character (`webapp.display_width`)."""
    rows = [tuple(for_terminal(cell) for cell in row) for row in rows]
    widths = [max(display_width(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        click.echo("  ".join(pad(cell, width) for cell, width in zip(row, widths, strict=True)).rstrip())


@uses_secrets(AUDIT_KEYS)
@users_command.command("set-role")
@click.argument("email")
@click.argument("role")
def set_role_command(email: str, role: str) -> None:
    """Give an account another role (viewer, engineer or admin)."""
    chosen = _role(role)
    user = _run(lambda: accounts.set_role(email, chosen, actor=command_line_actor()))
    click.echo(f"{user.email} is {user.role}")


@uses_secrets(AUDIT_KEYS)
@users_command.command("disable")
@click.argument("email")
def disable_command(email: str) -> None:
    """Stop an account from signing in; its open sessions end on their next request."""
    user = _run(lambda: accounts.disable_user(email, actor=command_line_actor()))
    click.echo(f"{user.email} is disabled")


@uses_secrets(AUDIT_KEYS)
@users_command.command("enable")
@click.argument("email")
def enable_command(email: str) -> None:
    """Let a disabled account sign in again."""
    user = _run(lambda: accounts.enable_user(email, actor=command_line_actor()))
    click.echo(f"{user.email} is enabled")


@uses_secrets(AUDIT_KEYS)
@users_command.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input's first line.")
def set_password_command(email: str, password_stdin: bool) -> None:
    """Replace an account's password (a reset); its other sessions end."""
    _run(lambda: accounts.get_user(email))
    password = _read_password(password_stdin)
    user = _run(lambda: accounts.set_password(email, password, actor=command_line_actor()))
    click.echo(f"password of {user.email} changed")


token_command = AppGroup("token", help="Manage any account's personal API tokens.")
users_command.add_command(token_command)


def _when(moment: datetime | None) -> str:
    """A time as the lists show it (UTC, to the minute), or `never`."""
    return as_utc(moment).strftime("%Y-%m-%d %H:%M") if moment is not None else "never"


def _state(record: ApiToken) -> str:
    """Whether the token works, as one fixed word scripts can compare: `active`, `revoked`, `expired`
    or `account_disabled` (its account is disabled); the times are in their own fields."""
    if not record.active:
        return "revoked"
    if record.expired:
        return "expired"
    return "active" if record.user.active else "account_disabled"


def _status(record: ApiToken) -> str:
    """The state as the table reads it: a revoked or expired token says when."""
    state = _state(record)
    if state == "revoked":
        return f"revoked {_when(record.revoked_at)}"
    if state == "expired":
        return f"expired {_when(record.expires_at)}"
    return state.replace("_", " ")


@uses_secrets(AUDIT_KEYS)
@token_command.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What will use it, e.g. 'release CI' (up to 100 characters).")
@click.option(
    "--expires-in",
    "days",
    type=int,
    metavar="DAYS",
    help=f"Days until the token is refused (1 to {tokens.MAX_LIFETIME_DAYS}) "
    f"[default: {tokens.DEFAULT_LIFETIME_DAYS}].",
)
@click.option("--no-expiry", is_flag=True, help="The token works until it is revoked.")
def token_create_command(email: str, name: str, days: int | None, no_expiry: bool) -> None:
    """Create a token for an account; prints only the token, so `TOKEN=$(…)` keeps it.

    It is shown this once: only its hash is kept. It expires after the default lifetime unless
    --expires-in or --no-expiry says otherwise.
    """
    if no_expiry and days is not None:
        fail("--expires-in and --no-expiry contradict each other: give one of them")
    lifetime = None if no_expiry else days if days is not None else tokens.DEFAULT_LIFETIME_DAYS
    user = _run(lambda: accounts.get_user(email))
    created = _run(
        lambda: tokens.create_token(user, name, actor=command_line_actor(), lifetime_days=lifetime),
        _TOKENS_TABLE,
    )
    record = created.record
    expiry = f"expiring {_when(record.expires_at)} UTC" if record.expires_at else "never expiring"
    click.echo(created.secret)
    click.echo(
        f"created API token {record.id} ({record.prefix}…, {record.name!r}) for {user.email}, {expiry}: "
        "it will not be shown again",
        err=True,
    )
    if not user.active:
        click.echo(
            f"warning: {user.email} is disabled: the token is refused until the account is enabled", err=True
        )


@uses_secrets()
@token_command.command("list")
@click.argument("email", required=False)
@LIST_FORMAT
def token_list_command(email: str | None, fmt: str) -> None:
    """List tokens (an account's, or everyone's): id, account, name, prefix, created, last used,
    expires, status."""
    user = _run(lambda: accounts.get_user(email)) if email is not None else None
    records = _run(lambda: db.session.scalars(tokens.tokens_query(user)).all(), _TOKENS_TABLE)
    if fmt == "json":
        tokens_json = [
            {
                "id": record.id,
                "account": record.user.email,
                "name": record.name,
                "prefix": record.prefix,
                "created": format_instant(record.created_at),
                "last_used": format_instant(record.last_used_at),
                "expires": format_instant(record.expires_at),
                "revoked": format_instant(record.revoked_at),
                "status": _state(record),
            }
            for record in records
        ]
        _json(tokens_json, "tokens")
        return
    if not records:
        click.echo(f"no API tokens for {user.email}" if user is not None else "no API tokens yet")
        return
    rows = [
        (
            str(record.id),
            record.user.email,
            record.name,
            f"{record.prefix}…",
            _when(record.created_at),
            _when(record.last_used_at),
            _when(record.expires_at),
            _status(record),
        )
        for record in records
    ]
    _table(
        ("ID", "ACCOUNT", "NAME", "PREFIX", "CREATED (UTC)", "LAST USED (UTC)", "EXPIRES (UTC)", "STATUS"),
        rows,
    )


@uses_secrets(AUDIT_KEYS)
@token_command.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
def token_revoke_command(token_id: int) -> None:
    """Revoke a token (its ID is in `users token list`); requests that present it are refused."""
    record = _run(lambda: tokens.get_token(token_id), _TOKENS_TABLE)
    if _run(lambda: tokens.revoke_token(record, actor=command_line_actor()), _TOKENS_TABLE):
        click.echo(f"revoked API token {record.id} ({record.name!r}) of {record.user.email}")
    else:
        click.echo(
            f"API token {record.id} ({record.name!r}) was already revoked on {_when(record.revoked_at)}"
        )
