"""One way to print a verdict: the CI commands (`check-code`, `drift`, `diff`) share it.

Text is one line per finding (what a terminal and `grep` want), JSON is for tools, Markdown is a
table fit to paste as a pull-request comment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from analytics.diff import CatalogDiff, Change
from analytics.wording import counted

GROUP_AT = 3
"""A property change repeated in at least this many events reads as one line that names them: a
bound added to the scope's id fields made 71 near-identical lines of one release's diff."""


class ReportFormat(StrEnum):
    """Output formats every CI command accepts."""

    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


@dataclass(frozen=True)
class ReportLine:
    """One finding.

    Attributes:
        code: a short stable code (`CC003`, `stale`, …) for suppressions and filters.
        where: a location (`path:line`) or subject (an event name).
        message: what is wrong, in one line.
    """

    code: str
    where: str
    message: str


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(
    title: str,
    lines: Sequence[ReportLine],
    fmt: ReportFormat,
    *,
    ok_message: str,
    details: Mapping[str, Any] | None = None,
) -> str:
    """Render findings in one of the formats.

    Args:
        title: what was checked, used as the Markdown heading and the JSON `check`.
        lines: the findings, in the order to show them.
        fmt: the output format.
        ok_message: what to say when there is nothing to report.
        details: more keys of the JSON document (the caller prints them its own way in the others),
            so that a JSON report stays one document.

    Returns:
        The rendered report, ending with a newline (empty for text with no findings).
    """
    if fmt is ReportFormat.JSON:
        body = {
            "check": title,
            "ok": not lines,
            "findings": [asdict(line) for line in lines],
            **(details or {}),
        }
        return json.dumps(body, indent=2) + "\n"
    if fmt is ReportFormat.MARKDOWN:
        if not lines:
            return f"### {title}\n\n✅ {ok_message}\n"
        rows = "\n".join(
            f"| `{line.code}` | {_markdown_cell(line.where)} | {_markdown_cell(line.message)} |"
            for line in lines
        )
        count = counted(len(lines), "finding")
        return f"### {title}\n\n❌ {count}\n\n| Code | Where | Finding |\n| --- | --- | --- |\n{rows}\n"
    return "".join(f"{line.where}: {line.code} {line.message}\n" for line in lines)


def render_diff(changes: CatalogDiff, fmt: ReportFormat, *, old: str, new: str) -> str:
    """Render a catalog diff: breaking changes first, each with its one-line summary.

    Args:
        changes: the diff.
        fmt: the output format.
        old: how the old side was named on the command line.
        new: how the new side was named.
    """
    ordered = [*changes.breaking, *changes.compatible]
    verdict = (
        f"{counted(len(ordered), 'change')}: "
        f"{len(changes.breaking)} breaking, {len(changes.compatible)} compatible ({old} → {new})"
    )
    if fmt is ReportFormat.JSON:
        body = {"old": old, "new": new, "breaking": changes.is_breaking, **changes.to_dict()}
        return json.dumps(body, indent=2, default=str) + "\n"
    breaking, compatible = _summaries(changes.breaking), _summaries(changes.compatible)
    if fmt is ReportFormat.MARKDOWN:
        lines = [f"### Catalog changes: `{old}` → `{new}`", ""]
        if not ordered:
            return "\n".join([*lines, "✅ No changes to events, properties or identify traits.", ""])
        lines.append(("❌ " if changes.is_breaking else "✅ ") + verdict)
        for title, group in (("Breaking", breaking), ("Compatible", compatible)):
            if group:
                lines += ["", f"**{title}**", ""] + [f"- {_markdown_cell(summary)}" for summary in group]
        return "\n".join([*lines, ""])
    rows = [f"{'breaking':<11} {summary}" for summary in breaking]
    rows += [f"{'compatible':<11} {summary}" for summary in compatible]
    return "\n".join([*rows, verdict, ""])


@dataclass(frozen=True)
class ChangeGroup:
    """One line of a diff report: a change, or the same property change in `GROUP_AT` or more events.

    The CLI and the Changes page both read a diff through these, so that a release of three shared
    changes reads as three lines in both, not one per event.
    """

    changes: tuple[Change, ...]

    @property
    def shared(self) -> bool:
        """Whether this is one change made in several events (or identify calls)."""
        return len(self.changes) > 1

    @property
    def breaking(self) -> bool:
        """Whether the change can break a consumer of the old version's data."""
        return self.changes[0].breaking

    @property
    def summary(self) -> str:
        """The change in one line; a shared one counts its events in place of a name
        (`54 events: "region" no longer allows sa-south-2`)."""
        first = self.changes[0]
        if not self.shared:
            return first.summary
        noun = "events" if first.section == "events" else "identify calls"
        return replace(first, name=f"{len(self.changes)} {noun}").summary


def group_changes(changes: Sequence[Change]) -> list[ChangeGroup]:
    """The changes as report lines, in their order: the same property change (kind, property, before
    and after) in `GROUP_AT` or more events is one group, where the first of them was; any other
    change is a group of its own."""
    groups: dict[str, list[Change]] = {}
    for position, change in enumerate(changes):
        same = [change.kind, change.section, change.prop, change.before, change.after, change.planned]
        key = json.dumps(same, default=str) if change.prop is not None else f"#{position}"
        groups.setdefault(key, []).append(change)
    lines: list[ChangeGroup] = []
    for group in groups.values():
        if len(group) < GROUP_AT:
            lines += [ChangeGroup((change,)) for change in group]
        else:
            lines.append(ChangeGroup(tuple(group)))
    return lines


def _summaries(changes: Sequence[Change]) -> list[str]:
    """One line per report group, a shared one naming its events (so a search for an event's name
    still finds it)."""
    lines = []
    for group in group_changes(changes):
        names = f" ({', '.join(change.name for change in group.changes)})" if group.shared else ""
        lines.append(group.summary + names)
    return lines
