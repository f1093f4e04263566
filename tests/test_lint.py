"""`event-catalog lint`: each rule on a deliberately broken catalog, and the shipped one."""

from __future__ import annotations

import subprocess
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from analytics.catalog import CATALOG
from analytics.events import SegmentEvent
from analytics.lint import EXCEPTIONS, LintReport, is_title_case, lint, pascal_words
from analytics.scopes import ProjectScope, UserScope
from analytics.spec import Category, IdentifySpec, SpecRegistry, Status, Team, TrackSpec, prop


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


def _filed(registry: SpecRegistry) -> dict[str, Any]:
    """Where a test's spec is filed (category, owner, registry): the class keywords besides its event."""
    return {"category": Category.ONBOARDING, "owner": Team.GROWTH, "registry": registry}


def _bad_registry() -> SpecRegistry:
    registry = SpecRegistry()
    common = _filed(registry)

    class ProjectCreateSpec(TrackSpec, event=BadEvent.ProjectCreate, **common):  # type: ignore[arg-type]
        """Created."""

        scope: ProjectScope
        badName: str = prop("Camel case.", example="x")  # noqa: N815
        owner_email: str = prop("Not marked.", example="ada@example.com")
        contact_phone: str = prop("Marked.", example="+44 20 7946 0000", personal_data=True)
        stack_name: str = prop("A thing's name, not a person's.", example="web")

    class ProjectCreateAgain(TrackSpec, event=BadEvent.ProjectCreate, **common):  # type: ignore[arg-type]
        """Created twice."""

        scope: ProjectScope

    class Undocumented(TrackSpec, event=BadEvent.ProjectDelete, **common):  # type: ignore[arg-type]
        scope: ProjectScope
        note: str = prop("", example="x")

    class Stray(TrackSpec, event=SegmentEvent.ProjectDelete, **common):  # type: ignore[arg-type]
        """Names an event of another enum."""

        scope: ProjectScope

    class Replaced(  # type: ignore[arg-type]
        TrackSpec, event=BadEvent.Deploy, replaced_by=BadEvent.ProjectExport, **common
    ):
        """Names a replacement while still active."""

        scope: ProjectScope

    class Circular(  # type: ignore[arg-type]
        TrackSpec,
        event=BadEvent.Projectcreate,
        status=Status.DEPRECATED,
        replaced_by=BadEvent.Projectcreate,
        **common,
    ):
        """Deprecated in favour of itself."""

        scope: ProjectScope

    class Chained(  # type: ignore[arg-type]
        TrackSpec,
        event=BadEvent.ProjectExport,
        status=Status.DEPRECATED,
        replaced_by=BadEvent.Projectcreate,
        **common,
    ):
        """Deprecated in favour of a deprecated event."""

        scope: ProjectScope

    class Unscoped(TrackSpec, event=BadEvent.projectArchive, **common):  # type: ignore[arg-type]
        """Its scope line deleted: user-scoped without saying so."""

    class Login(IdentifySpec, name="Login", owner=Team.IDENTITY, registry=registry):
        """One."""

        scope: ProjectScope

    class LoginAgain(IdentifySpec, name="Login", owner=Team.IDENTITY, registry=registry):
        """Two."""

        scope: ProjectScope

    return registry


def _codes(report: LintReport) -> set[str]:
    """Each finding as `code subject`, the form the tests compare."""
    return {f"{f.code} {f.subject}" for f in report.findings}


def _findings() -> set[str]:
    return _codes(lint(BadEvent, _bad_registry(), {}))


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
        "EC013 ProjectCreateSpec.owner_email",
        "EC014 Replaced",
        "EC014 Circular",
        "EC014 Chained",
        "EC015 Unscoped",
    ],
)
def test_each_rule_reports_its_finding(expected: str) -> None:
    assert expected in _findings()


def test_only_unmarked_personal_names_are_reported() -> None:
    personal = {f for f in _findings() if f.startswith("EC013")}
    assert personal == {"EC013 ProjectCreateSpec.owner_email"}


class BillingEvent(StrEnum):
    InvoicePay = "Invoice Paid"


def test_the_fields_of_nested_models_are_linted_by_their_path() -> None:
    """Lint read the spec's own fields only: a camelCase, undescribed email field of a nested model passed."""
    registry = SpecRegistry()

    class PaymentMethod(BaseModel):
        kind: str = prop("Payment kind.", example="card")
        payerEmail: str | None = Field(default=None, examples=["ap@example.com"])  # noqa: N815

    class LineItem(BaseModel):
        sku: str = Field(examples=["pro-seat"])
        contact_phone: str = prop("Who to call.", example="+1 555 0100", personal_data=True)

    class Payer(BaseModel):
        email: str = prop("Masked with the whole payer.", example="ap@example.com")

    class InvoicePay(TrackSpec, event=BillingEvent.InvoicePay, **_filed(registry)):
        """An invoice was paid."""

        scope: ProjectScope
        payment_method: PaymentMethod = prop("How it was paid.", example={"kind": "card"})
        line_items: list[LineItem] = prop("Items.", example=[])
        payer: Payer | None = prop("Who paid.", example=None, personal_data=True, default=None)

    assert _codes(lint(BillingEvent, registry, {})) == {
        "EC005 InvoicePay.payment_method.payerEmail",
        "EC006 InvoicePay.payment_method.payerEmail",
        "EC013 InvoicePay.payment_method.payerEmail",
        "EC005 InvoicePay.line_items.sku",
    }


def test_a_free_form_value_that_does_not_say_whether_it_holds_personal_data_is_reported() -> None:
    """The audit log masks a free-form value's keys by their names only (the host-app walk, F15): a
    `dict[str, Any]` or `Any` property, or a nested model's field, says whether it is personal data."""
    registry = SpecRegistry()

    class Contact(BaseModel):
        inbox: str = prop("A shared inbox.", example="billing@example.com")
        extra: dict[str, Any] = prop("What the form sent.", example={})

    class InvoicePay(TrackSpec, event=BillingEvent.InvoicePay, **_filed(registry)):
        """An invoice was paid."""

        scope: ProjectScope
        filters: dict[str, Any] = prop("Filters.", example={})
        anything: Any = prop("Anything.", example=1)
        counts: list[dict[str, int]] | None = prop("Counts.", example=None, default=None)
        labels: dict[str, str] = prop("Labels, no personal data.", example={}, personal_data=False)
        form: dict[str, Any] = prop("The whole form.", example={}, personal_data=True)
        contacts: dict[str, Contact] = prop("Inboxes by region.", example={})
        payer: Contact = prop("Who paid.", example={"inbox": "a", "extra": {}}, personal_data=True)

    assert _codes(lint(BillingEvent, registry, {})) == {
        "EC017 InvoicePay.filters",
        "EC017 InvoicePay.anything",
        "EC017 InvoicePay.counts",
        "EC017 InvoicePay.contacts.*.extra",
    }
    # Saying `personal_data=False` masks nothing: the schema keeps the decision, the masks do not change.
    assert InvoicePay.personal_data_keys() == {"form", "payer"}
    assert InvoicePay.json_schema()["properties"]["labels"]["x-personal-data"] is False
    assert "x-personal-data" not in InvoicePay.json_schema()["properties"]["filters"]


def test_an_example_that_breaks_its_own_field_or_the_spec_is_reported() -> None:
    """`example=5000` with `le=1000` passed lint, and the event page then failed building the example."""
    registry = SpecRegistry()

    class LineItem(BaseModel):
        sku: str = prop("Product SKU.", example="pro-seat")
        quantity: int = prop("How many.", example=0, ge=1, le=10_000)

    class PlanChange(TrackSpec, event=BillingEvent.InvoicePay, **_filed(registry)):
        """A plan changed."""

        scope: ProjectScope
        seats: int = prop("Seats after the change.", example=5000, ge=1, le=1000)
        line_items: list[LineItem] = prop("Items.", example=[{"sku": "pro-seat", "quantity": 20_000}])
        plan: str = prop("The new plan.", example="pro")

    class Profile(IdentifySpec, name="Profile", owner=Team.IDENTITY, registry=registry):
        """Each example valid alone, yet a required trait has none."""

        scope: UserScope
        company: str = Field(description="No example given.")

    report = lint(BillingEvent, registry, {})
    assert [str(f) for f in report.findings if f.code == "EC016"] == [
        "PlanChange.seats: EC016 example does not validate: Input should be less than or equal to 1000",
        "PlanChange.line_items: EC016 example does not validate: "
        "0.quantity: Input should be less than or equal to 10000",
        "PlanChange.line_items.quantity: EC016 example does not validate: "
        "Input should be greater than or equal to 1",
        "Profile: EC016 the examples do not make a valid spec: company: Field required",
    ]


def test_a_clean_name_is_not_reported() -> None:
    findings = _findings()
    assert not any(f.endswith(" ProjectCreate") for f in findings)


def test_exceptions_silence_a_finding_and_stale_ones_are_reported() -> None:
    report = lint(
        BadEvent, _bad_registry(), {("EC011", "ProjectExport"): "kept", ("EC002", "Nothing"): "stale"}
    )
    codes = _codes(report)
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

    class Duplicate(TrackSpec, event=SegmentEvent.ProjectCreate, **_filed(SpecRegistry())):
        """A second spec for an event that has one."""

        scope: ProjectScope

    monkeypatch.setattr(CATALOG.registry, "tracks", [*CATALOG.registry.tracks, Duplicate])
    result = CliRunner().invoke(main, ["lint"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        'Duplicate: EC009 second spec for "New Project Event" (first: ProjectCreate)'
    ]


@pytest.mark.parametrize(
    ("module", "mistake", "said"),
    [
        (
            "events.py",
            '    Duplicated = "Cluster Provisioning Success"\n',
            "ValueError: duplicate values found in <enum 'SegmentEvent'>: "
            "Duplicated -> ClusterProvisioningSuccess",
        ),
        (
            "tracks.py",
            "\nclass Late(TrackSpec, event=SegmentEvent.NoSuchEvent):\n    pass\n",
            "AttributeError: ",
        ),
        (
            "scopes.py",
            '\n\nclass Shard(ProjectScope):\n    label: ClassVar[str] = "cluster"\n'
            '    description: ClassVar[str] = "A second cluster scope."\n',
            "TypeError: Shard: the label 'cluster' is taken by ClusterScope ('Cluster')",
        ),
    ],
)
def test_a_catalog_that_does_not_load_is_one_line_naming_its_file(
    tmp_path: Path, module: str, mistake: str, said: str
) -> None:
    """The catalog's mistakes that stop it loading (enum and class definitions checked on import)
    printed a traceback from every command, lint included, instead of saying where they are."""
    import shutil

    from webapp import ROOT

    for package in ("analytics", "webapp"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    declared = tmp_path / "analytics" / module
    source = declared.read_text()
    if module == "events.py":
        anchor = '    ClusterProvisioningSuccess = "Cluster Provisioning Success"\n'
        source = source.replace(anchor, anchor + mistake)
    else:
        source += mistake
    declared.write_text(source)
    # Python names the enum's decorator, which finds the duplicate; a class, its own line.
    failing = "@unique" if module == "events.py" else mistake.strip()
    line = source[: source.index(failing)].count("\n") + 1
    launcher = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); from webapp.command import main; main()"
    result = subprocess.run([sys.executable, "-c", launcher, "lint"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: event-catalog cannot start: analytics/{module}:"), result.stderr
    assert said in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert f"analytics/{module}:{line}: " in result.stderr, result.stderr
