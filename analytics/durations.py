"""Durations and instants as people type them on a command line or in a URL (`15m`, `24h`, `30d`,
`2w`, `2026-03-01T14:00`), and instants as the log writes them back (ISO 8601, UTC)."""

from __future__ import annotations

import re
from datetime import MAXYEAR, MINYEAR, UTC, datetime, timedelta
from typing import Literal, overload

# `[0-9]`, not `\d`: `\d` and `int()` take any script's digits (`２４h`, `٢٤h`), which ids refuse.
_DURATION = re.compile(r"^\s*(?:[0-9]+\s*[smhdw]\s*)+$")
_PART = re.compile(r"([0-9]+)\s*([smhdw])")
_OTHER_DIGITS = re.compile(r"^\s*(?:\d+\s*[smhdw]\s*)+$")
"""A duration written with some digits of another script: refused saying so, as ids are."""
ASCII_DIGITS = "durations are written with the digits 0-9 only, like 24h"
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SPOKEN = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def parse_duration(text: str) -> timedelta:
    """Parse `<number><unit>` with unit s, m, h, d or w, or several, as the pages write them (`1h30m`).

    Raises:
        ValueError: with the accepted forms, for anything else (including zero); or saying so, for a
            duration that reaches back from now before year 1, datetime's limit.
    """
    _refuse_other_digits(text)
    parts = _PART.findall(text) if _DURATION.match(text) else []
    if not any(int(number) for number, _ in parts):
        raise ValueError(
            f"{text!r} is not a duration: use a positive number and a unit, like 15m, 24h, 30d or 2w"
        )
    try:
        duration = sum((timedelta(**{_UNITS[unit]: int(number)}) for number, unit in parts), timedelta())
    except OverflowError:
        raise _before_year_1(text) from None
    # Every caller counts the duration back from now: refuse here what no caller could use.
    _ago(text, duration, datetime.now(UTC))
    return duration


def _refuse_other_digits(text: str) -> None:
    """Raise the ValueError that says a duration takes the digits 0-9 only, for `２４h`."""
    if _OTHER_DIGITS.match(text) and not _DURATION.match(text):
        raise ValueError(f"{text!r} is not a duration: {ASCII_DIGITS}")


def _ago(text: str, duration: timedelta, now: datetime) -> datetime:
    """`now - duration`, or the ValueError every caller reports in place of datetime's OverflowError."""
    try:
        return now - duration
    except OverflowError:
        raise _before_year_1(text) from None


def _before_year_1(text: str) -> ValueError:
    """One message for a duration too long for timedelta and one too long to count back from now."""
    return ValueError(f"{text!r} reaches back before year 1")


def format_duration(duration: timedelta) -> str:
    """A duration as people read it, largest unit first: `1 h`, `15 min`, `1 h 30 min`, `2 d`.

    Below a second is dropped; nothing left reads `0 s`.
    """
    rest = int(duration.total_seconds())
    parts = []
    for unit, size in _SPOKEN:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts) or "0 s"


# A `+` typed into an address is a space once decoded (`?since=…T14:00+01:00`): a space before an
# offset at the end of a time can only have been that `+`.
_SPACED_OFFSET = re.compile(r"^(.*T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d(?::?\d\d)?)$")


def parse_instant(text: str, now: datetime | None = None) -> datetime:
    """Parse an ISO 8601 instant (naive means UTC) or a duration meaning "that long before now".

    Args:
        text: e.g. `2026-03-01T14:00`, `2026-03-01T14:00:00+02:00` or `24h`.
        now: the reference for the relative form; the current time by default.

    Returns:
        An aware UTC datetime.

    Raises:
        ValueError: neither form, in one line that says which forms are accepted; or a moment outside
            datetime's range (years 1 to 9999 in UTC), saying which end.
    """
    _refuse_other_digits(text)
    if _DURATION.match(text):
        return _ago(text, parse_duration(text), now or datetime.now(UTC))
    try:
        moment = datetime.fromisoformat(_SPACED_OFFSET.sub(r"\1+\2", text.strip()))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use ISO 8601 like 2026-03-01T14:00 (UTC unless an offset is "
            "given) or a duration ago like 24h or 7d"
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # The offset carried a moment at year 1 or 9999 past datetime's range.
        edge = "before year 1" if moment.year == MINYEAR else f"after year {MAXYEAR}"
        raise ValueError(f"{text!r} is {edge} in UTC") from None


def as_utc(value: datetime) -> datetime:
    """A datetime in UTC; SQLite hands back naive values, which the log always writes in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def shown_instant(moment: datetime) -> str:
    """An instant as a sentence for people states it: UTC to the second, `2026-02-03 04:05:06 UTC`
    (naive means UTC, as stored)."""
    # isoformat, not strftime: glibc's %Y writes year 738 as "738".
    return as_utc(moment).replace(tzinfo=None).isoformat(" ", "seconds") + " UTC"


@overload
def format_instant(
    moment: datetime, timespec: Literal["auto", "microseconds"] = ..., *, zulu: bool = ...
) -> str: ...


@overload
def format_instant(
    moment: None, timespec: Literal["auto", "microseconds"] = ..., *, zulu: bool = ...
) -> None: ...


def format_instant(
    moment: datetime | None, timespec: Literal["auto", "microseconds"] = "auto", *, zulu: bool = False
) -> str | None:
    """An instant in ISO 8601, in UTC (naive means UTC, as stored), as `parse_instant` reads it back.

    Args:
        moment: the instant; None (never) stays None, JSON's null.
        timespec: `auto` leaves out microseconds when there are none; `microseconds` always writes
            them: the one fixed width purge records have always stated their bounds in, so old and
            new records (and the `--before` a dry run prints) read alike.
        zulu: end in `Z`, not `+00:00`: the form the audit search's links carry, whose `+` an
            address would otherwise have to escape.
    """
    if moment is None:
        return None
    text = as_utc(moment).isoformat(timespec=timespec)
    return text.removesuffix("+00:00") + "Z" if zulu else text
