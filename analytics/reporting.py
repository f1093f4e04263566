"""One way to print a verdict: the CI commands (`check-code`, `drift`, `diff`) share it.

Text is one line per finding (what a terminal and `grep` want), JSON is for tools, Markdown is a
table fit to paste as a pull-request comment.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum


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


def render(title: str, lines: Sequence[ReportLine], fmt: ReportFormat, *, ok_message: str) -> str:
    """Render findings in one of the formats.

    Args:
        title: what was checked, used as the Markdown heading and the JSON `check`.
        lines: the findings, in the order to show them.
        fmt: the output format.
        ok_message: what to say when there is nothing to report.

    Returns:
        The rendered report, ending with a newline (empty for text with no findings).
    """
    if fmt is ReportFormat.JSON:
        body = {"check": title, "ok": not lines, "findings": [asdict(line) for line in lines]}
        return json.dumps(body, indent=2) + "\n"
    if fmt is ReportFormat.MARKDOWN:
        if not lines:
            return f"### {title}\n\n✅ {ok_message}\n"
        rows = "\n".join(
            f"| `{line.code}` | {_markdown_cell(line.where)} | {_markdown_cell(line.message)} |"
            for line in lines
        )
        count = f"{len(lines)} finding{'s' if len(lines) != 1 else ''}"
        return f"### {title}\n\n❌ {count}\n\n| Code | Where | Finding |\n| --- | --- | --- |\n{rows}\n"
    return "".join(f"{line.where}: {line.code} {line.message}\n" for line in lines)
