"""The production secrets each command checks: those it uses, not the dashboard's whole set.

Under `APP_ENV=production` every command needed `SECRET_KEY` and both audit keys, because each
built the dashboard's app, which checks them all. An application host given what the README lists
(no `SECRET_KEY`) could not run `db upgrade` or `replay`, and a cron job running `audit verify`
with the chain key was refused for `SECRET_KEY` and `AUDIT_MASK_KEY`, neither of which it uses. The
command line now builds the app checking no secret (`create_app(secrets={})`), and each command
checks, as it starts, the ones it uses (`secrets_used`); the dashboard's server checks them all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import click
from flask import current_app
from flask.cli import ScriptInfo

from analytics.settings import AUDIT_KEYS, ConfigurationError
from webapp.config import CHAIN_KEY, SECRETS, command_secrets

CHAIN_ONLY = (("db",), ("audit", "verify"), ("audit", "purge"), ("audit", "partitions"))
"""Commands that keep the audit log's chain but read no personal data, so no mask is made."""
NO_SECRETS = frozenset({"lint", "check-code", "diff", "export", "import"})
"""Commands on the catalog's own files: they read and write nothing keyed."""
AUDITED = frozenset({"send", "replay", "drift", "users", "token", "audit"})
"""The rest of the project's commands: they write or search audit entries (masks included)."""


def secrets_used(path: tuple[str, ...]) -> Mapping[str, str]:
    """The secrets the command at `path` (`("audit", "verify")`) uses. `SECRET_KEY`, which signs
    sessions, only for what serves or opens the dashboard (`run`, `shell`) and commands this
    project does not know, which are given the dashboard's whole set."""
    if any(path[: len(prefix)] == prefix for prefix in CHAIN_ONLY):
        return CHAIN_KEY
    if path[0] in NO_SECRETS:
        return {}
    if path[0] in AUDITED:
        return AUDIT_KEYS
    return SECRETS


def with_secrets_checked(command: click.Command, path: tuple[str, ...] = ()) -> None:
    """Make each command under `command` (named by `path`) refuse, as it starts, a production secret
    it uses that is unset or guessable, in the command line's one-line form. Idempotent: the
    commands are shared by every app built in one process."""
    if isinstance(command, click.Group):
        for name, subcommand in command.commands.items():
            with_secrets_checked(subcommand, (*path, name))
        return
    callback = command.callback
    if callback is None or getattr(callback, "secrets_checked", False):
        return
    command.callback = _checking(callback, secrets_used(path))


def _checking(callback: Callable[..., Any], used: Mapping[str, str]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def checked(*args: Any, **kwargs: Any) -> Any:
        from webapp.cli import fail

        info = click.get_current_context().find_object(ScriptInfo)
        config = info.load_app().config if info is not None else current_app.config
        try:
            command_secrets(config, used, shared=None if used is SECRETS else "the dashboard")
        except ConfigurationError as exc:
            lines = "\n".join(f"  {problem}" for problem in exc.problems)
            fail(f"invalid configuration:\n{lines}")
        return callback(*args, **kwargs)

    checked.secrets_checked = True  # type: ignore[attr-defined]
    return checked
