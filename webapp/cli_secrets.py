"""The production secrets each command checks: those it uses, not the dashboard's whole set.

Under `APP_ENV=production` every command needed `SECRET_KEY` and both audit keys, because each
built the dashboard's app, which checks them all. An application host given what the README lists
(no `SECRET_KEY`) could not run `db upgrade` or `replay`, and a cron job running `audit verify`
with the chain key was refused for `SECRET_KEY` and `AUDIT_MASK_KEY`, neither of which it uses. The
command line now builds the app checking no secret (`create_app(secrets={})`), and each command
checks, as it starts, the ones it uses; the dashboard's server checks them all.

Each command declares those where it is defined (`@uses_secrets(CHAIN_KEY)`, or `declared` for a
command Flask or Flask-Migrate defines), and the check reads that declaration. A list of command
names kept here gave a command it did not name the dashboard's whole set, with the dashboard's
advice to make new keys: wrong for a command, whose audit keys must be the dashboard's. A test walks
the `event-catalog` group and fails for a command that declares nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import click
from flask import current_app
from flask.cli import ScriptInfo

from analytics.settings import ConfigurationError
from webapp.config import command_secrets

C = TypeVar("C", bound=click.Command)

_DECLARATION = "secrets_used"
"""The attribute of a command that holds its `SecretsUsed`."""
DASHBOARD = "the dashboard"
"""Who holds the secrets every command but the dashboard's own server uses (`run`)."""


@dataclass(frozen=True)
class SecretsUsed:
    """The production secrets a command uses (each name with why it must be a secret), and who
    already holds them: `the dashboard`, whose values a command must copy (new audit keys would not
    match what the dashboard wrote), or None for the dashboard's server itself, told to make its own."""

    secrets: Mapping[str, str]
    shared: str | None


def uses_secrets(secrets: Mapping[str, str] | None = None, *, own: bool = False) -> Callable[[C], C]:
    """Declare the production secrets of the command it decorates (placed above `@click.command`):
    none when `secrets` is left out. `own` only for the dashboard's server (`run`)."""
    return functools.partial(declared, secrets=secrets or {}, own=own)


def declared(command: C, secrets: Mapping[str, str], *, own: bool = False) -> C:
    """`command`, declaring the production `secrets` it uses and refusing, as it starts, one that is
    unset or guessable. Only a command is declared, not a group: a group's commands may use
    different secrets, and each must say which. Pass a copy of a command another package defines:
    its object is shared by every group in the process."""
    if isinstance(command, click.Group):
        raise TypeError(f"declare the secrets of each command of the group {command.name!r}, not the group's")
    if secrets_declared(command) is not None:
        raise TypeError(f"the command {command.name!r} already declares its secrets")
    declaration = SecretsUsed(dict(secrets), None if own else DASHBOARD)
    setattr(command, _DECLARATION, declaration)
    if declaration.secrets and command.callback is not None:
        command.callback = _checking(command.callback, declaration)
    return command


def secrets_declared(command: click.Command) -> SecretsUsed | None:
    """What `command` declares it uses (`uses_secrets`), or None when it declares nothing."""
    declaration: SecretsUsed | None = getattr(command, _DECLARATION, None)
    return declaration


def _checking(callback: Callable[..., Any], declaration: SecretsUsed) -> Callable[..., Any]:
    """`callback`, preceded by the check of the secrets it uses, in the command line's one-line form."""

    @functools.wraps(callback)
    def checked(*args: Any, **kwargs: Any) -> Any:
        from webapp.cli import fail

        info = click.get_current_context().find_object(ScriptInfo)
        config = info.load_app().config if info is not None else current_app.config
        try:
            command_secrets(config, declaration.secrets, shared=declaration.shared)
        except ConfigurationError as exc:
            lines = "\n".join(f"  {problem}" for problem in exc.problems)
            fail(f"invalid configuration:\n{lines}")
        return callback(*args, **kwargs)

    return checked
