"""Owners as contacts: a team declares who to ask (`TEAM_CONTACTS`), and every place that shows the
owner shows it too: the catalog pages, the tester, the exports, `/api/catalog` and `drift`.

The shipped catalog declares none (a fork fills in its own), so each test declares the contacts it
reads, for itself.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from analytics.catalog import CATALOG
from analytics.drift import drift
from analytics.exports import markdown_plan, segment_plan, spec_document, specs_csv
from analytics.owners import owners_of, who_to_ask
from analytics.reporting import ReportFormat
from analytics.spec import TEAM_CONTACTS, Contact, Team, contact_of

GROWTH = Contact(channel="#growth-analytics", email="growth@example.com")


@pytest.fixture
def contacts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Growth with a channel and an email, identity with a link to its channel, the others none."""
    monkeypatch.setitem(TEAM_CONTACTS, Team.GROWTH, GROWTH)
    monkeypatch.setitem(TEAM_CONTACTS, Team.IDENTITY, Contact(channel="https://chat.example.com/identity"))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "a Contact needs a channel=, an email= or both"),
        ({"channel": " "}, "Contact channel=' ': give it without blanks around it, on one line"),
        ({"email": "growth"}, "Contact email='growth' is not an email address"),
        ({"channel": "#a\n#b"}, "give it without blanks around it, on one line"),
    ],
)
def test_a_contact_that_says_nothing_usable_is_refused_where_it_is_declared(
    arguments: dict[str, str], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        Contact(**arguments)


def test_without_contacts_the_owner_is_shown_alone(client: FlaskClient) -> None:
    """What a fork that declares none sees: nothing new, and no empty "ask" anywhere."""
    assert contact_of(Team.GROWTH) is None
    assert spec_document(CATALOG.event("UserCreate"))["owner_contact"] is None
    page = client.get("/events/UserCreate").get_data(as_text=True)
    assert "growth</a> team</dd>" in page and "ask" not in page.split("<dt>Owner</dt>")[1][:200]


def test_the_event_page_list_and_identify_pages_say_who_to_ask(client: FlaskClient, contacts: None) -> None:
    page = client.get("/events/UserCreate").get_data(as_text=True)
    assert (
        '<dt>Owner</dt><dd><a href="/?owner=growth">growth</a> team: ask <span class="contact">'
        '#growth-analytics · <a href="mailto:growth@example.com">growth@example.com</a></span></dd>' in page
    )
    listing = client.get("/").get_data(as_text=True)
    row = listing[listing.index(">New User</a>") : listing.index("</tr>", listing.index(">New User</a>"))]
    assert (
        '<td data-label="Owner">growth<br><span class="muted small"><span class="contact">#growth-analytics'
        in row
    )
    call = client.get("/identifiers/LoginIdentify").get_data(as_text=True)
    assert (
        '<dd>identity: ask <span class="contact"><a href="https://chat.example.com/identity">'
        "https://chat.example.com/identity</a></span></dd>" in call
    )
    assert '<span class="contact"><a href="https://chat.example.com/identity">' in client.get(
        "/identifiers"
    ).get_data(as_text=True)
    tester = client.get("/tester/?event=UserCreate").get_data(as_text=True)
    assert "Owner: growth (#growth-analytics · growth@example.com) ·" in tester


def test_a_channel_that_is_not_a_web_link_is_text(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(TEAM_CONTACTS, Team.GROWTH, Contact(channel="javascript:alert(1)"))
    page = client.get("/events/UserCreate").get_data(as_text=True)
    assert '<span class="contact">javascript:alert(1)</span>' in page and 'href="javascript' not in page


def test_every_export_and_the_api_carry_the_contact(client: FlaskClient, contacts: None) -> None:
    info = CATALOG.event("UserCreate")
    assert spec_document(info)["owner_contact"] == "#growth-analytics · growth@example.com"
    [row] = list(csv.DictReader(io.StringIO(specs_csv([info]))))
    assert (row["owner"], row["owner_contact"]) == ("growth", "#growth-analytics · growth@example.com")
    assert "**Owner:** growth (#growth-analytics · growth@example.com) · **Scope:** User" in markdown_plan()
    [rule] = [rule for rule in segment_plan()["rules"] if rule["key"] == "New User"]
    assert rule["jsonSchema"]["labels"]["owner_contact"] == "#growth-analytics · growth@example.com"
    answer = client.get("/api/catalog/events/UserCreate")
    assert answer.status_code == 200 and answer.get_json()["owner_contact"] == str(GROWTH)


def test_drift_findings_are_grouped_by_owner_with_who_to_ask(engine: Engine, contacts: None) -> None:
    findings = drift(engine, since=timedelta(days=30))
    owners = owners_of(findings)
    assert {owner.owner for owner in owners} == {str(team) for team in Team}
    growth = owners[0]
    assert growth.owner == "growth", "in the findings' order: New User is the catalog's first event"
    assert growth.contact == GROWTH and "New User" in growth.subjects
    assert growth.as_json()["contact"] == {"channel": "#growth-analytics", "email": "growth@example.com"}
    text = who_to_ask(owners, ReportFormat.TEXT).splitlines()
    assert (
        text[0]
        == f"growth: owner {len(growth.subjects)} findings; ask #growth-analytics · growth@example.com"
    )
    assert any(line.endswith("findings; no contact in analytics.spec.TEAM_CONTACTS") for line in text)
    markdown = who_to_ask(owners, ReportFormat.MARKDOWN)
    assert "**Who to ask**" in markdown
    assert f"| growth | {len(growth.subjects)} | #growth-analytics · growth@example.com |" in markdown
    assert who_to_ask(owners, ReportFormat.JSON) == ""


def test_drift_command_names_who_to_ask(app: Flask, contacts: None) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["drift", "--owner", "growth"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[-1].startswith("growth: owner ") and lines[-1].endswith(
        "; ask #growth-analytics · growth@example.com"
    )
    as_json = json.loads(runner.invoke(args=["drift", "--owner", "growth", "--format", "json"]).output)
    [owner] = as_json["owners"]
    assert owner["owner"] == "growth" and owner["contact"]["channel"] == "#growth-analytics"


def test_drift_without_contacts_prints_what_it_printed(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["drift", "--owner", "growth"])
    assert result.exit_code == 1
    assert all(": never-sent " in line for line in result.output.splitlines())


def test_a_fork_s_contact_can_be_read_by_owner_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Specs may name an owner as text (`owner="billing"`, as an imported plan does)."""
    monkeypatch.setitem(TEAM_CONTACTS, "billing", Contact(email="billing@example.com"))
    assert contact_of("billing") == Contact(email="billing@example.com")
    assert str(contact_of("billing")) == "billing@example.com"
