"""An option that holds one value, given more than once, refused in every command.

Click keeps the last value of an option that is not `multiple`: `replay --status failed --status
dropped` re-sent only `dropped` and exited 0 (a cron line that never re-sent `failed`), and `audit
export --status failed --status delivered` exported the delivered entries only. The dashboard's page
and API refuse a repeated parameter ("give one value"), and `send` refuses a repeated `--scope` id:
the command group gives every command, Flask's own included, the same refusal
(`with_repeats_refused`), before Click's parse takes the last value. Options that are `multiple` (`send
--prop`) or count (`-vv`) still repeat, and a comma-separated list (`--status failed,dropped`) is one
value. Options that pass no value to the command (`--help`, `--version`) are left alone.
"""

from __future__ import annotations

import copy
import functools
import shlex
from collections import Counter
from collections.abc import Callable
from typing import Any

import click

SHOWN_VALUE = 40
"""Characters of each repeated value quoted in the refusal: enough to tell them apart in one line."""

_Parse = Callable[[click.Context, list[str]], list[str]]


def with_repeats_refused(command: click.Command) -> click.Command:
    """`command`, and each of its subcommands, refusing a single-valued option given more than once.

    Idempotent: the commands are shared by every app built in one process. The commands are built by
    Click's decorators, Flask and Flask-Migrate, so the check wraps each one's `parse_args` rather
    than asking for a class of ours."""
    if not getattr(command.parse_args, "repeats_refused", False):
        command.parse_args = _refusing_repeats(command, command.parse_args)  # type: ignore[method-assign,assignment]
    if isinstance(command, click.Group):
        for subcommand in command.commands.values():
            with_repeats_refused(subcommand)
    return command


def _refusing_repeats(command: click.Command, parse: _Parse) -> _Parse:
    @functools.wraps(parse)
    def parse_args(ctx: click.Context, args: list[str]) -> list[str]:
        if args and not ctx.resilient_parsing:
            refuse_repeats(command, ctx, args)
        return parse(ctx, args)

    parse_args.repeats_refused = True  # type: ignore[attr-defined]
    return parse_args


def refuse_repeats(command: click.Command, ctx: click.Context, args: list[str]) -> None:
    """Raise a usage error naming the first single-valued option `args` give more than once.

    The arguments are read by a parser of the same options, each of them collecting every value it
    is given, so nothing is converted or called back. A mistake of another kind (an unknown option,
    a missing value) is left to Click's own parse, which says it as it always has.

    Raises:
        click.UsageError: `--status is given twice (failed and dropped): give it once`.
    """
    params = command.get_params(ctx)
    collecting = {id(param): _collecting(param) for param in params if _holds_one_value(param)}
    if not collecting:
        return
    reader = click.Command(None, params=[collecting.get(id(p), p) for p in params], add_help_option=False)
    try:
        values, _, order = reader.make_parser(ctx).parse_args(args=list(args))
    except click.UsageError:
        return
    counts = Counter(id(param) for param in order)
    for param in params:
        clone = collecting.get(id(param))
        if clone is not None and counts[id(clone)] > 1:
            assert isinstance(param, click.Option)  # only options are collecting
            given = values.get(clone.name) if not param.is_flag else None
            raise click.UsageError(_repeated(param, counts[id(clone)], given), ctx)


def _holds_one_value(param: click.Parameter) -> bool:
    return isinstance(param, click.Option) and param.expose_value and not param.multiple and not param.count


def _collecting(param: click.Parameter) -> click.Parameter:
    """A copy of the option that keeps every value given, as `multiple=True` does."""
    clone = copy.copy(param)
    clone.multiple = True
    return clone


def _repeated(option: click.Option, times: int, given: list[Any] | None) -> str:
    name = "/".join(option.opts + option.secondary_opts) if option.is_flag else _long_name(option)
    count = "twice" if times == 2 else f"{times} times"
    shown = f" ({_listed([_shown(value) for value in given])})" if given else ""
    return f"{name} is given {count}{shown}: give it once"


def _long_name(option: click.Option) -> str:
    return next((opt for opt in option.opts if opt.startswith("--")), option.opts[0])


def _shown(value: Any) -> str:
    text = _as_typed(" ".join(value) if isinstance(value, tuple) else str(value))
    text = text if len(text) <= SHOWN_VALUE else f"{text[: SHOWN_VALUE - 1]}…"
    return shlex.quote(text)


def _as_typed(text: str) -> str:
    """The value with each byte that is not UTF-8 written `\\xff`, as the shell's `$'\\xff'` gave it:
    Python decodes such a byte to a lone surrogate (`\\udcff`), which the refusal printed as such."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no byte made: written as its escape
        return text.encode("utf-8", "backslashreplace").decode()


def _listed(texts: list[str]) -> str:
    return texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} and {texts[-1]}"
