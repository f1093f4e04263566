"""Command-line text that is not Unicode, refused where it is typed, naming the option.

Python decodes arguments (and environment variables) that are not UTF-8 with `surrogateescape`:
each byte it cannot decode becomes a lone surrogate (`\\xff` is `\\udcff`), which no database, JSON
request or log line can encode. Passed on, it ended commands in a `UnicodeEncodeError` traceback at
their first query or print, or was sent on a dry run that the real send then refused. The command
group gives every text option and argument of every command the `TEXT` type (`with_text_checked`),
so one check refuses it in every command, before the command runs. Paths keep Click's path type:
a file name need not be UTF-8.

A JSON `\\ud800` escape makes the same surrogate from plain ASCII: `send --json` is refused by the
tester's own check of off-schema JSON (`webapp.tester.forms.unstorable_text`), as the raw editor is.
"""

from __future__ import annotations

from typing import Any

import click

from analytics.storable_text import SURROGATE

_ESCAPED_BYTES = range(0xDC80, 0xDD00)
"""The surrogates `surrogateescape` makes: U+DC80 to U+DCFF for each byte 0x80 to 0xff it cannot decode."""


def _lone_surrogate(text: str) -> int | None:
    found = SURROGATE.search(text)
    return None if found is None else ord(found.group())


def not_unicode(text: str) -> str | None:
    """Why a command-line argument is not text (a byte that is not UTF-8 is named), or None."""
    code = _lone_surrogate(text)
    if code is None:
        return None
    if code in _ESCAPED_BYTES:
        return f"not UTF-8 text (byte {code - 0xDC00:#04x})"
    return f"not Unicode text (\\u{code:04x} is a lone surrogate, not a character)"


class Text(click.ParamType):
    """Click's text type (`click.STRING`), refusing text that is not Unicode."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The text, as Click's own type gives it; refused, naming the option, when not Unicode."""
        text = click.STRING.convert(value, param, ctx)
        problem = not_unicode(text)
        if problem is not None:
            self.fail(problem, param, ctx)
        return text


TEXT = Text()


def with_text_checked(command: click.Command) -> click.Command:
    """`command` with every text parameter, its subcommands' included, of the `TEXT` type.

    Click gives an option or argument declared without a type (or with `str`) its one `STRING`
    instance: those are the ones swapped, so choices, numbers and paths keep their own checks.
    """
    for param in command.params:
        if param.type is click.STRING:
            param.type = TEXT
    if isinstance(command, click.Group):
        for subcommand in command.commands.values():
            with_text_checked(subcommand)
    return command
