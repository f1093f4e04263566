"""The command that re-sends a view's not-yet-stuck pending entries now, as the dashboard suggests it.

The dashboard waits for `AUDIT_STUCK_AFTER`; `event-catalog replay --stuck-after` takes a shorter one
for a run. But the command narrows only by time, status and outcome: suggested bare under a view of
one user, it re-sent every failed, dropped and stuck entry of the whole log, and took for stuck the
pending entries of other users a live process may still be sending. So the suggestion carries what
the command can express of the view, and names the filters it cannot.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from analytics.durations import format_instant
from analytics.queries import FILTER_PARAMS
from analytics.replay import DEFAULT_STATUSES, NotStuckYet, ReplaySelection
from webapp.audit.forms import SearchForm

EXPRESSED = ("range", "since", "until", "status", "outcome")
"""The view's filters the command carries (`range` as its `--since`)."""


@dataclass(frozen=True)
class SoonerCommand:
    """`event-catalog replay` with the view's time range, statuses and outcome, and `--stuck-after`.

    Attributes:
        command: the command line, its values quoted for a shell.
        unexpressed: the view's filters (parameter names) the command cannot narrow by.
    """

    command: str
    unexpressed: tuple[str, ...] = ()

    @property
    def caveat(self) -> str | None:
        """What the command does beyond the view, when it does."""
        if not self.unexpressed:
            return None
        names = " or ".join(self.unexpressed) if len(self.unexpressed) < 3 else ", ".join(self.unexpressed)
        return (
            f"the command cannot narrow by {names} as this view does: it re-sends every entry of the log "
            "its options select, not only this view's, pending ones a live process may still be sending "
            "included"
        )


def _since(form: SearchForm) -> str | None:
    """The view's start as `--since` reads it: as typed, or the instant when both a range and a
    start are given (the later of the two applies, which one option cannot say)."""
    typed, relative = form.value("since").strip(), form.value("range").strip()
    if typed and relative:
        assert form.filters is not None and form.filters.since is not None
        return format_instant(form.filters.since, zulu=True)
    return typed or relative or None


def _statuses(form: SearchForm, selection: ReplaySelection) -> Sequence[str]:
    """The statuses the view re-sends: the selection's, narrowed by the view's status filter."""
    assert form.filters is not None
    shown = form.filters.statuses
    return [str(status) for status in selection.statuses if not shown or status in shown]


def sooner_command(form: SearchForm, selection: ReplaySelection, waiting: NotStuckYet) -> SoonerCommand:
    """The command that re-sends this view's entries now, `waiting`'s pending ones included."""
    statuses = _statuses(form, selection)
    options = {
        "--status": None if tuple(statuses) == DEFAULT_STATUSES else ",".join(statuses),
        "--since": _since(form),
        "--until": form.value("until").strip() or None,
        "--outcome": form.value("outcome").strip() or None,
        "--stuck-after": waiting.stuck_after_now,
    }
    words = [f"{name} {shlex.quote(value)}" for name, value in options.items() if value]
    given = form.params(live=None)
    unexpressed = tuple(name for name in FILTER_PARAMS if name in given and name not in EXPRESSED)
    return SoonerCommand(" ".join(["event-catalog replay", *words]), unexpressed)
