"""`event-catalog users …`: manage accounts from the command line (how a production admin starts).

Passwords are prompted for, or read from standard input with `--password-stdin`, never taken as an
argument (arguments end up in shell history and process lists). Changes are recorded in the audit
log against `cli:<login>`.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from webapp.auth import accounts
from webapp.auth.identity import PROXY
from webapp.auth.roles import Role
from webapp.cli import fail, fail_on_database
from webapp.extensions import db

users_command = AppGroup("users", help="Manage dashboard accounts and their roles.")

ROLE_HELP = "viewer, engineer or admin."


def cli_actor() -> str:
    """Who the audit log names for a command: the operating-system login."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _role(raw: str) -> Role:
    try:
        return Role.parse(raw)
    except ValueError as exc:
        fail(str(exc))


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    try:
        password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    except click.Abort:
        # The end of input (nothing piped) or Ctrl-C at the prompt.
        click.echo(err=True)
        fail("no password given: type it at the prompt, or pipe it in with --password-stdin")
    return password


def _run(action: Callable[[], Any]) -> Any:
    """Run an account change; its refusals and database errors end the command in one line."""
    try:
        return action()
    except accounts.AccountError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        db.session.rollback()
        fail_on_database("use the accounts table", exc)


@users_command.command("add")
@click.argument("email")
@click.option("--role", default=Role.VIEWER.value, show_default=True, help=ROLE_HELP)
@click.option("--name", "display_name", help="Display name (optional).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input's first line.")
def add_command(email: str, role: str, display_name: str | None, password_stdin: bool) -> None:
    """Create an account; prompts for its password (none behind the sign-in proxy)."""
    chosen = _role(role)
    _run(lambda: accounts.normalise_email(email))
    password = None if current_app.config["AUTH_MODE"] == PROXY else _read_password(password_stdin)
    user = _run(
        lambda: accounts.add_user(email, password, chosen, actor=cli_actor(), display_name=display_name)
    )
    click.echo(f"added {user.email} as {user.role}")


@users_command.command("list")
def list_command() -> None:
    """List accounts: email, role, state, last sign-in, display name."""
    users = _run(lambda: db.session.scalars(accounts.users_query()).all())
    if not users:
        click.echo("no accounts yet: add one with `event-catalog users add EMAIL --role admin`")
        return
    rows = [
        (
            user.email,
            str(user.role),
            "active" if user.active else "disabled",
            user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "never",
            user.display_name or "",
        )
        for user in users
    ]
    headers = ("EMAIL", "ROLE", "STATE", "LAST SIGN-IN", "NAME")
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@users_command.command("set-role")
@click.argument("email")
@click.argument("role")
def set_role_command(email: str, role: str) -> None:
    """Give an account another role (viewer, engineer or admin)."""
    chosen = _role(role)
    user = _run(lambda: accounts.set_role(email, chosen, actor=cli_actor()))
    click.echo(f"{user.email} is {user.role}")


@users_command.command("disable")
@click.argument("email")
def disable_command(email: str) -> None:
    """Stop an account from signing in; its open sessions end on their next request."""
    user = _run(lambda: accounts.disable_user(email, actor=cli_actor()))
    click.echo(f"{user.email} is disabled")


@users_command.command("enable")
@click.argument("email")
def enable_command(email: str) -> None:
    """Let a disabled account sign in again."""
    user = _run(lambda: accounts.enable_user(email, actor=cli_actor()))
    click.echo(f"{user.email} is enabled")


@users_command.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input's first line.")
def set_password_command(email: str, password_stdin: bool) -> None:
    """Replace an account's password (a reset); its other sessions end."""
    _run(lambda: accounts.get_user(email))
    password = _read_password(password_stdin)
    user = _run(lambda: accounts.set_password(email, password, actor=cli_actor()))
    click.echo(f"password of {user.email} changed")
