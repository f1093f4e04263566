"""Exports parse back: CSV through `csv`, JSON Schemas through `jsonschema`, the Segment plan as draft-07."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
from flask.testing import FlaskClient, FlaskCliRunner

from analytics.catalog import CATALOG, Catalog
from analytics.events import SegmentEvent
from analytics.exports import (
    CSV_COLUMNS,
    FORMATS,
    ExportFormat,
    catalog_document,
    events_csv,
    list_json,
    markdown_plan,
    render,
    segment_plan,
    spec_document,
    specs_csv,
)
from analytics.messages import build_message
from analytics.scopes import ProjectScope, UserScope
from analytics.spec import Category, IdentifySpec, SpecRegistry, Team, TrackSpec, prop

ALL_SPECS = [*CATALOG.events.values(), *CATALOG.identifiers.values()]


def test_csv_has_one_row_per_event_and_property() -> None:
    rows = list(csv.DictReader(io.StringIO(events_csv())))
    assert tuple(rows[0]) == CSV_COLUMNS
    expected = sum(max(len(info.properties), 1) for info in ALL_SPECS)
    assert len(rows) == expected
    email = next(r for r in rows if r["event"] == "New User" and r["property"] == "email")
    assert (email["type"], email["required"], email["personal_data"], email["added_by_scope"]) == (
        "string",
        "yes",
        "yes",
        "no",
    )
    kinds = next(
        r for r in rows if r["event"] == "Cluster Provisioning Success" and r["property"] == "cluster_type"
    )
    assert kinds["allowed_values"] == "eks | gke | aks | doks"
    assert kinds["example"] == "eks"
    infra_id = next(r for r in rows if r["property"] == "infra_id")
    assert (infra_id["example"], infra_id["bounds"]) == ("9", "1 ≤ value ≤ 2⁶³−1")
    assert kinds["bounds"] == kinds["pattern"] == ""
    account = next(r for r in rows if r["property"] == "aws_account_id")
    assert (account["pattern"], account["bounds"]) == (r"^[0-9]{12}$", "")
    bare = next(r for r in rows if r["event"] == "Github Connection Started")
    assert bare["property"] == "" and bare["scope"] == "User"
    deprecated = next(r for r in rows if r["event"] == "Stack Launch Complete")
    assert deprecated["replaced_by"] == "Stack Launch Success"
    assert {r["kind"] for r in rows} == {"track", "identify"}


def test_catalog_csv_cells_cannot_run_as_spreadsheet_formulas() -> None:
    """The specs come from code, but an example or a description can still start like a formula."""
    registry = SpecRegistry()

    class Formulas(
        TrackSpec,
        event=SegmentEvent.ProjectDelete,
        category=Category.ONBOARDING,
        owner="growth",
        registry=registry,
    ):
        """=HYPERLINK("https://attacker.example","open")"""

        scope: ProjectScope
        delta: int = prop("@SUM(1+1)", example=-3)
        note: str = prop("+ how it went", example="=cmd|'/c calc'!a0")

    (first, *rows) = csv.DictReader(io.StringIO(specs_csv(Catalog(registry).events.values())))
    assert first["event_description"] == '\'=HYPERLINK("https://attacker.example","open")'
    cells = {row["property"]: (row["property_description"], row["example"]) for row in [first, *rows]}
    assert cells["delta"] == ("'@SUM(1+1)", "'-3")
    assert cells["note"] == ("'+ how it went", "'=cmd|'/c calc'!a0")


def test_csv_and_segment_plan_keep_the_whole_description() -> None:
    """The paragraph after the first line says when the event fires: a spreadsheet needs it too."""
    registry = SpecRegistry()

    class Paid(
        TrackSpec,
        event=SegmentEvent.ProjectDelete,
        category=Category.ONBOARDING,
        owner="billing",
        registry=registry,
    ):
        """A customer's invoice was paid.

        Fires from the Stripe `invoice.paid` webhook handler, once per invoice:
        =not a formula here, since only a cell's first character counts.
        """

        scope: ProjectScope
        amount_cents: int = prop("Total charged, in cents.", example=4900, ge=0)

    whole = Paid.description()
    assert whole.count("\n") == 3
    catalog = Catalog(registry)
    rows = list(csv.DictReader(io.StringIO(specs_csv(catalog.events.values()))))
    assert {row["event_description"] for row in rows} == {whole}
    (rule,) = segment_plan(catalog)["rules"]
    assert rule["jsonSchema"]["description"] == whole


@pytest.mark.parametrize(
    "events, identifiers, filters",
    [
        (
            [
                (info, {"last_seen": "2026-01-02", "sent_last_days": {"days": 7}, "note": 'é\n"x"'})
                for info in CATALOG.events.values()
            ],
            list(CATALOG.identifiers.values()),
            {"q": 'a "quoted"\nline, 東京'},
        ),
        ([(info, None) for info in list(CATALOG.events.values())[:2]], [], {}),
        ([], [], {}),
    ],
)
def test_the_list_json_is_the_document_as_json_dumps_writes_it(events, identifiers, filters) -> None:  # type: ignore[no-untyped-def]
    """The text is put together from each spec's own, kept by the dashboard; it must be the very text
    that writing the whole document gives, escapes, empty lists and non-ASCII included."""
    document = {
        "version": CATALOG.version,
        "filters": filters,
        "events": [{**spec_document(info), "activity": activity} for info, activity in events],
        "identifiers": [spec_document(info) for info in identifiers],
    }
    expected = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    assert list_json(events, identifiers, filters, CATALOG.version) == expected


def test_jsonschema_bundle_parses_back_into_valid_schemas() -> None:
    bundle = json.loads(render("jsonschema"))
    assert bundle["version"] == CATALOG.version
    assert list(bundle["events"]) == list(CATALOG.events)
    for section, infos in (("events", CATALOG.events), ("identifiers", CATALOG.identifiers)):
        for name, info in infos.items():
            schema = bundle[section][name]
            jsonschema.Draft202012Validator.check_schema(schema)
            jsonschema.Draft202012Validator(schema).validate(info.example_payload())


def test_markdown_plan_has_a_section_and_table_per_event() -> None:
    plan = markdown_plan()
    assert plan.startswith("# Tracking plan\n")
    for info in ALL_SPECS:
        assert f"\n### {info.name}\n" in plan
    assert "| `cluster_type` | string | yes | `eks`, `gke`, `aks`, `doks` |" in plan
    assert "(use **Stack Launch Success** instead)" in plan


@pytest.mark.parametrize("info", list(CATALOG.events.values()), ids=lambda info: info.constant)
def test_segment_plan_rules_validate_the_real_message(info) -> None:  # type: ignore[no-untyped-def]
    rules = {rule["key"]: rule for rule in segment_plan()["rules"] if rule["type"] == "TRACK"}
    rule = rules[info.name]
    assert rule["version"] == 1
    schema = rule["jsonSchema"]
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    message = build_message(info.example_spec())
    validator.validate(message)
    assert not validator.is_valid({**message, "properties": {**message["properties"], "surprise": 1}})
    assert schema["labels"]["owner"] == str(info.spec.owner)
    # Of the catalog's own keywords only the personal-data flag is kept, for an import to read back.
    text = json.dumps(schema)
    assert "$ref" not in text and "x-" not in text.replace('"x-personal-data"', "")


def test_segment_plan_has_one_identify_rule_for_every_identify_call() -> None:
    plan = segment_plan()
    assert (plan["name"], plan["type"]) == ("event-catalog", "LIVE")
    assert CATALOG.version in plan["description"]
    identify = [rule for rule in plan["rules"] if rule["type"] == "IDENTIFY"]
    assert len(identify) == 1 and identify[0]["key"] is None
    validator = jsonschema.Draft7Validator(identify[0]["jsonSchema"])
    for info in CATALOG.identifiers.values():
        validator.validate(build_message(info.example_spec()))
    traits = identify[0]["jsonSchema"]["properties"]["traits"]
    assert traits["required"] == ["email"]
    assert set(traits["properties"]) == {"email", "github", "first_name", "last_name", "company_name"}
    assert not validator.is_valid({"type": "identify", "traits": {"github": True}})


def test_segment_plan_identify_rule_is_labelled_with_every_identify_owner() -> None:
    """The identify rule merges every identify spec's traits, so its owner label names each owner (and
    its status label each status, once)."""
    registry = SpecRegistry()

    class SignUpIdentify(IdentifySpec, name="Sign up", owner=Team.IDENTITY, registry=registry):
        """Sent on sign-up."""

        scope: UserScope
        email: str = prop("The user's email.", example="ada@example.com", personal_data=True)

    class BillingIdentify(IdentifySpec, name="Billing profile", owner="billing", registry=registry):
        """Sent when the billing profile is saved."""

        scope: UserScope
        seats: int = prop("Seats paid for.", example=5, ge=1)

    class LoginAgainIdentify(IdentifySpec, name="Login again", owner=Team.IDENTITY, registry=registry):
        """Sent on login."""

        scope: UserScope
        email: str = prop("The user's email.", example="ada@example.com", personal_data=True)

    (rule,) = [rule for rule in segment_plan(Catalog(registry))["rules"] if rule["type"] == "IDENTIFY"]
    assert rule["jsonSchema"]["labels"] == {"owner": "identity,billing", "status": "active"}


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_download_is_a_named_file(client: FlaskClient, name: str) -> None:
    fmt = FORMATS[name]
    response = client.get(f"/downloads/{name}")
    assert response.status_code == 200
    assert response.mimetype == fmt.media_type
    assert response.headers["Content-Disposition"] == f'attachment; filename="{fmt.filename}"'
    assert response.data.decode(fmt.encoding) == render(name)


def test_each_download_is_rendered_once_per_process(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalog cannot change while the process runs; the downloads were rendered per request."""
    expected = {name: render(name) for name in FORMATS}
    renders: list[str] = []
    for name, fmt in FORMATS.items():

        def counted(catalog: Catalog, fmt: ExportFormat = fmt) -> str:
            renders.append(fmt.name)
            return fmt.render(catalog)

        monkeypatch.setitem(FORMATS, name, replace(fmt, render=counted))
    for _ in range(2):
        for name in FORMATS:
            response = client.get(f"/downloads/{name}")
            assert response.status_code == 200
            assert response.data.decode(FORMATS[name].encoding) == expected[name]
    assert sorted(renders) == sorted(FORMATS)


def test_csv_download_carries_a_byte_order_mark_for_spreadsheets(client: FlaskClient) -> None:
    response = client.get("/downloads/csv")
    assert response.data.startswith(b"\xef\xbb\xbf")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"


def test_unknown_download_is_a_404(client: FlaskClient) -> None:
    assert client.get("/downloads/xlsx").status_code == 404


def test_downloads_page_links_every_format(client: FlaskClient) -> None:
    page = client.get("/downloads").get_data(as_text=True)
    for name in FORMATS:
        assert f'href="/downloads/{name}"' in page


@pytest.mark.parametrize("name", list(FORMATS))
def test_cli_export_writes_the_same_file(runner: FlaskCliRunner, tmp_path: Path, name: str) -> None:
    target = tmp_path / FORMATS[name].filename
    result = runner.invoke(args=["export", "--format", name, "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes().decode(FORMATS[name].encoding) == render(name)


def test_cli_export_prints_to_stdout_without_a_file(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["export", "--format", "segment-plan"])
    assert result.exit_code == 0
    assert json.loads(result.output) == segment_plan()


def test_cli_csv_to_stdout_carries_the_byte_order_mark_and_imports_with_or_without_it(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    """`export --format csv > plan.csv` (the README's way) wrote no byte-order mark, unlike `-o`: a
    spreadsheet opened its non-ASCII text in the legacy code page. `import` reads either file."""
    printed = runner.invoke(args=["export", "--format", "csv"])
    assert printed.exit_code == 0, printed.output
    assert printed.stdout_bytes == render("csv").encode("utf-8-sig")
    with_mark, without_mark = tmp_path / "with" / "plan.csv", tmp_path / "without" / "plan.csv"
    with_mark.parent.mkdir()
    without_mark.parent.mkdir()
    with_mark.write_bytes(printed.stdout_bytes)
    without_mark.write_bytes(printed.stdout_bytes.removeprefix(b"\xef\xbb\xbf"))
    imported = [runner.invoke(args=["import", str(path)]) for path in (with_mark, without_mark)]
    assert [result.exit_code for result in imported] == [0, 0], [result.output for result in imported]
    assert imported[0].stdout == imported[1].stdout and "class " in imported[0].stdout


def test_cli_export_fails_in_one_line(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = runner.invoke(args=["export", "--format", "csv", "-o", str(tmp_path / "missing" / "x.csv")])
    assert result.exit_code == 2  # a path that cannot be written is bad input, as for `audit export -o`
    assert result.output.strip().splitlines() == [
        f"error: cannot write {tmp_path / 'missing' / 'x.csv'}: No such file or directory"
    ]
    unknown = runner.invoke(args=["export", "--format", "xlsx"])
    assert unknown.exit_code == 2 and "'xlsx' is not one of" in unknown.output


def test_a_catalog_document_changed_by_its_caller_leaves_the_catalog_as_it_was() -> None:
    """Each spec's `json_schema` in the document was the catalog's own dict: a script that edited the
    /api/catalog document it built changed the schemas, and so the schema bundle and every later
    document of the process."""
    catalog = Catalog(CATALOG.registry)
    pristine = json.dumps(catalog_document(catalog))
    changed = catalog_document(catalog)
    changed["events"][0]["json_schema"]["properties"]["email"]["type"] = "integer"
    changed["identifiers"][0]["json_schema"]["x-owner"] = "someone else"
    assert json.dumps(catalog_document(catalog)) == pristine
    assert catalog.schema_bundle()["events"]["New User"]["properties"]["email"]["type"] == "string"
