"""`event-catalog lint`: each rule on a deliberately broken catalog, and the shipped one."""

from __future__ import annotations

import subprocess
import sys
from enum import Enum, StrEnum

import pytest

from analytics.catalog import CATALOG
from analytics.events import SegmentEvent
from analytics.lint import EXCEPTIONS, is_title_case, lint, pascal_words
from analytics.scopes import ProjectScope
from analytics.spec import Category, IdentifySpec, SpecRegistry, Team, TrackSpec, prop


class BadEvent(StrEnum):
    """An enum that breaks the naming rules (no @unique, so aliases can be tested)."""

    ProjectCreate = "Project Created"
    ProjectCreateAlias = "project created"
    projectArchive = "Project Archived"
    Deploy = "Deploy Started"
    ProjectDelete = "Project deleted"
    ProjectRename = "Renamed Project"
    ProjectExport = "Project Export Event"
    Projectcreate = "Project Recreated"


def _bad_registry() -> SpecRegistry:
    registry = SpecRegistry()
    common = {"category": Category.ONBOARDING, "owner": Team.GROWTH, "registry": registry}

    class ProjectCreateSpec(TrackSpec, event=BadEvent.ProjectCreate, **common):  # type: ignore[arg-type]
        """Created."""

        scope: ProjectScope
        badName: str = prop("Camel case.", example="x")  # noqa: N815

    class ProjectCreateAgain(TrackSpec, event=BadEvent.ProjectCreate, **common):  # type: ignore[arg-type]
        """Created twice."""

        scope: ProjectScope

    class Undocumented(TrackSpec, event=BadEvent.ProjectDelete, **common):  # type: ignore[arg-type]
        scope: ProjectScope
        note: str = prop("", example="x")

    class Stray(TrackSpec, event=SegmentEvent.ProjectDelete, **common):  # type: ignore[arg-type]
        """Names an event of another enum."""

        scope: ProjectScope

    class Login(IdentifySpec, name="Login", owner=Team.IDENTITY, registry=registry):
        """One."""

        scope: ProjectScope

    class LoginAgain(IdentifySpec, name="Login", owner=Team.IDENTITY, registry=registry):
        """Two."""

        scope: ProjectScope

    return registry


def _findings(
    events: type[Enum] = BadEvent, exceptions: dict[tuple[str, str], str] | None = None
) -> set[str]:
    report = lint(events, _bad_registry(), exceptions or {})
    return {f"{f.code} {f.subject}" for f in report.findings}


@pytest.mark.parametrize(
    "expected",
    [
        "EC001 projectArchive",
        "EC001 Deploy",
        "EC002 ProjectDelete",
        "EC003 ProjectCreateAlias",
        "EC004 Projectcreate",
        "EC005 Undocumented",
        "EC005 Undocumented.note",
        "EC006 ProjectCreateSpec.badName",
        "EC007 ProjectRename",
        "EC008 Stray",
        "EC009 ProjectCreateAgain",
        "EC009 LoginAgain",
        "EC010 ProjectRename",
        "EC011 ProjectExport",
    ],
)
def test_each_rule_reports_its_finding(expected: str) -> None:
    assert expected in _findings()


def test_a_clean_name_is_not_reported() -> None:
    findings = _findings()
    assert not any(f.endswith(" ProjectCreate") for f in findings)


def test_exceptions_silence_a_finding_and_stale_ones_are_reported() -> None:
    report = lint(
        BadEvent, _bad_registry(), {("EC011", "ProjectExport"): "kept", ("EC002", "Nothing"): "stale"}
    )
    codes = {f"{f.code} {f.subject}" for f in report.findings}
    assert "EC011 ProjectExport" not in codes
    assert [str(f) for f, _ in report.excepted] == [
        'ProjectExport: EC011 event string "Project Export Event" ends with the redundant word "Event"'
    ]
    assert "EC012 Nothing" in codes


def test_shipped_catalog_is_clean_apart_from_documented_exceptions() -> None:
    report = lint(SegmentEvent, CATALOG.registry)
    assert report.ok, [str(f) for f in report.findings]
    assert {(f.code, f.subject) for f, _ in report.excepted} == set(EXCEPTIONS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Cluster Provisioning Started", True),
        ("Project Connected to Sandbox", True),
        ("AWS Account ID Inputted", True),
        ("Triggered Re-deploy via Webhook", False),
        ("Project deleted", False),
        ("to Sandbox", False),
    ],
)
def test_title_case(text: str, expected: bool) -> None:
    assert is_title_case(text) is expected


def test_pascal_words_keep_acronyms_whole() -> None:
    assert pascal_words("AWSCreateIntegrationSuccess") == ["AWS", "Create", "Integration", "Success"]


def test_lint_command_exits_zero_on_the_shipped_catalog_and_lists_exceptions_on_request() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "webapp.cli", "lint", "--show-exceptions"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    *excepted, summary = done.stdout.splitlines()
    assert len(excepted) == len(EXCEPTIONS)
    assert all("(excepted: " in line for line in excepted)
    events, identifiers = len(CATALOG.events), len(CATALOG.identifiers)
    assert summary == (
        f"ok: {events} events and {identifiers} identify calls checked, no findings "
        f"({len(EXCEPTIONS)} documented exceptions)"
    )


def test_lint_command_exits_one_with_a_line_per_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from webapp.cli import main

    class Duplicate(
        TrackSpec,
        event=SegmentEvent.ProjectCreate,
        category=Category.ONBOARDING,
        owner=Team.GROWTH,
        registry=SpecRegistry(),
    ):
        """A second spec for an event that has one."""

        scope: ProjectScope

    monkeypatch.setattr(CATALOG.registry, "tracks", [*CATALOG.registry.tracks, Duplicate])
    result = CliRunner().invoke(main, ["lint"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        'Duplicate: EC009 second spec for "New Project Event" (first: ProjectCreate)'
    ]
