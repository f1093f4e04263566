"""`event-catalog drift`'s findings grouped by owning team, with who to ask (`TEAM_CONTACTS`).

A drift report over the whole catalog names events of several teams; whoever reads it in CI needs
to know whom to tell. The grouping follows the findings' own order, and unknown events and identify
calls, which no spec owns, belong to no group. Forks without contacts see no change: the text and
Markdown reports say who to ask only when some owner with findings has a contact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from analytics.drift import DriftFinding
from analytics.reporting import ReportFormat
from analytics.spec import Contact, contact_of
from analytics.wording import counted

NO_CONTACT = "no contact in analytics.spec.TEAM_CONTACTS"
"""What the report says of an owner that has none, so that the place to add one is named."""


@dataclass(frozen=True)
class OwnerFindings:
    """One owning team's findings.

    Attributes:
        owner: the team.
        contact: how to reach it, or None.
        subjects: the subjects of its findings, in report order.
    """

    owner: str
    contact: Contact | None
    subjects: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """The JSON report's form: the contact's parts, or null."""
        contact = (
            None if self.contact is None else {"channel": self.contact.channel, "email": self.contact.email}
        )
        return {"owner": self.owner, "contact": contact, "findings": list(self.subjects)}


def owners_of(findings: Iterable[DriftFinding]) -> list[OwnerFindings]:
    """The owners of the findings, each with its findings' subjects, first-seen order."""
    subjects: dict[str, list[str]] = {}
    for finding in findings:
        if finding.owner is not None:
            subjects.setdefault(finding.owner, []).append(finding.subject)
    return [OwnerFindings(owner, contact_of(owner), tuple(found)) for owner, found in subjects.items()]


def _cell(contact: Contact | None) -> str:
    return str(contact or NO_CONTACT).replace("|", "\\|")


def who_to_ask(owners: list[OwnerFindings], fmt: ReportFormat | str) -> str:
    """What text and Markdown reports print after the findings: one line (row) per owner, with its
    contact; empty when no owner has a contact, and for JSON, which carries `as_json` instead."""
    if fmt == ReportFormat.JSON or not any(owner.contact for owner in owners):
        return ""
    if fmt == ReportFormat.MARKDOWN:
        rows = [f"| {owner.owner} | {len(owner.subjects)} | {_cell(owner.contact)} |" for owner in owners]
        return "\n".join(
            ["", "**Who to ask**", "", "| Owner | Findings | Contact |", "| --- | --- | --- |", *rows, ""]
        )
    return "".join(
        f"{owner.owner}: owner {counted(len(owner.subjects), 'finding')}; "
        f"{f'ask {owner.contact}' if owner.contact else NO_CONTACT}\n"
        for owner in owners
    )
