"""SQL injection attempts on the audit search, its property filter, the catalog search and the export.

Every value reaches SQL as a bound parameter, so an attempt is just a value: it finds exactly the
entries that hold it (none, or the one that stored it), answers 200 or a field error, never a 500,
and leaves the tables as they were. A nested property's path (`line_items[].sku`) is bound too, as a
JSON path on SQLite and inside a JSONB document on PostgreSQL; a key that is no path is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from auditlog import record
from auth_helpers import signed_in_client
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from nested_specs import OrderPlaced
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.orm import Session

from analytics.audit import AuditEntry, AuditStatus, AuditStore
from analytics.messages import build_message
from analytics.queries import FilterError, newest_first, parse_filters
from analytics.scopes import ProjectScope
from webapp.auth.roles import Role
from webapp.extensions import analytics_client, db

ATTEMPTS = [
    "' OR 1=1 --",
    '"; DROP TABLE audit_entries; --',
    "%' --",
    "x' OR '1'='1",
]
"""Classic attempts: tautologies, a stacked statement, a LIKE wildcard with a comment."""

SCOPE = {"user_id": 1, "project_id": 12, "cluster_id": 4}


def _seed(store: AuditStore) -> dict[str, str]:
    """An ordinary entry, plus one entry per attempt that holds it (as actor and stack name)."""
    ids = {
        "plain": record(store, "StackLaunchSuccess", scope=SCOPE, properties={"stack_name": "billing-api"})
    }
    for attempt in ATTEMPTS:
        ids[attempt] = record(
            store,
            "StackLaunchFailure",
            scope=SCOPE,
            properties={"stack_name": attempt, "error_message": attempt},
            actor=attempt,
            source="tester",
        )
    return ids


def _found(engine: Engine, params: dict[str, str]) -> set[str]:
    filters = parse_filters(params, mask_key=b"event-catalog")
    with Session(engine) as session:
        return {entry.message_id for entry in session.scalars(newest_first(filters, limit=100))}


def _intact(engine: Engine, expected_rows: int) -> None:
    assert {"audit_entries", "delivery_attempts"} <= set(inspect(engine).get_table_names())
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == expected_rows


def test_attempts_in_search_filters_match_only_as_plain_values(store: AuditStore, engine: Engine) -> None:
    ids = _seed(store)
    for attempt in ATTEMPTS:
        own = {ids[attempt]}
        assert _found(engine, {"actor": attempt}) == own, attempt
        assert _found(engine, {"prop": f"stack_name = {attempt}"}) == own, attempt
        assert _found(engine, {"prop": f"error_message={attempt}"}) == own, attempt
        assert _found(engine, {"event": attempt}) == set(), attempt
        assert _found(engine, {"message_id": attempt}) == set(), attempt
        # Ids and versions have a shape: an attempt is refused by name before any query.
        for name in ("user_id", "version"):
            with pytest.raises(FilterError) as refused:
                _found(engine, {name: attempt})
            assert set(refused.value.errors) == {name}, attempt
        # The attempt as the tail of a value matches nothing: no wildcard, no comment.
        assert _found(engine, {"prop": f"stack_name = billing-api{attempt}"}) == set(), attempt
    assert _found(engine, {"prop": "key = x' OR '1'='1"}) == set()
    _intact(engine, len(ids))


def test_attempts_as_a_quoted_property_key_are_bound_keys(store: AuditStore, engine: Engine) -> None:
    """A key in double quotes may hold any text: it reaches SQL inside a bound JSON path or document, or
    (one holding `"`, which SQLite's paths cannot spell) as a bound key compared with `json_each`'s."""
    ids = _seed(store)
    for attempt in ATTEMPTS:
        assert _found(engine, {"prop": f"{json.dumps(attempt)} = {attempt}"}) == set(), attempt
        assert _found(engine, {"prop": f"list[].{json.dumps(attempt)}.x = {attempt}"}) == set(), attempt
    _intact(engine, len(ids))


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_attempts_as_a_property_key_are_a_field_error(attempt: str) -> None:
    with pytest.raises(FilterError) as raised:
        parse_filters({"prop": f"{attempt} = x"})
    assert set(raised.value.errors) == {"prop"}
    assert "is not a property name" in raised.value.errors["prop"]


def _seed_nested(store: AuditStore) -> dict[str, str]:
    """An ordinary invoice, plus one per attempt that holds it in an item of its list (sku and note)."""
    ids = {}
    for name, item in [("plain", {"sku": "seat", "quantity": 1})] + [
        (attempt, {"sku": attempt, "quantity": 2, "note": attempt}) for attempt in ATTEMPTS
    ]:
        invoice = OrderPlaced(
            scope=ProjectScope(user_id=1, project_id=12),
            line_items=[{"sku": "seat", "quantity": 1}, item],
            payment_method={"kind": "card"},
        )
        message = build_message(invoice)
        store.record(message, status=AuditStatus.DELIVERED, source="application")
        ids[name] = message["messageId"]
    return ids


def test_attempts_in_nested_values_match_only_as_plain_values(store: AuditStore, engine: Engine) -> None:
    ids = _seed_nested(store)
    for attempt in ATTEMPTS:
        own = {ids[attempt]}
        assert _found(engine, {"prop": f"line_items[].sku = {attempt}"}) == own, attempt
        assert _found(engine, {"prop": f"line_items[].note={attempt}"}) == own, attempt
        assert _found(engine, {"prop": f"payment_method.kind = {attempt}"}) == set(), attempt
        assert _found(engine, {"prop": f"line_items[].sku = seat{attempt}"}) == set(), attempt
    assert _found(engine, {"prop": "line_items[].sku = seat"}) == set(ids.values())
    _intact(engine, len(ids))


@pytest.mark.parametrize(
    "key",
    [
        *(f"line_items[].{attempt}" for attempt in ATTEMPTS),
        *(f"{attempt}[].sku" for attempt in ATTEMPTS),
        "line_items[0].sku",
        "line_items[*].sku",
        "$.properties.line_items",
        'payment_method."kind" OR 1',
        "payment_method.kind') OR json_type(payload",
    ],
)
def test_attempts_in_a_property_path_are_a_field_error(key: str) -> None:
    with pytest.raises(FilterError) as raised:
        parse_filters({"prop": f"{key} = x"})
    assert set(raised.value.errors) == {"prop"}
    assert "is not a property name or path" in raised.value.errors["prop"]


@pytest.fixture
def seeded_app(app: Flask) -> dict[str, str]:
    with app.app_context():
        return _seed(analytics_client.store())


def _app_engine(app: Flask) -> Engine:
    with app.app_context():
        return analytics_client.store().engine


@pytest.mark.parametrize("field", ["event", "actor", "user_id", "message_id", "version", "prop", "project"])
def test_the_search_page_answers_attempts_with_results_or_a_field_error(
    app: Flask, client: FlaskClient, seeded_app: dict[str, str], field: str
) -> None:
    for attempt in ATTEMPTS + ["key = x' OR '1'='1"]:
        value = f"error_message = {attempt}" if field == "prop" and "=" not in attempt else attempt
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get("/audit/", query_string={field: value}, headers=headers)
            assert response.status_code in (200, 400), (field, attempt, response.status_code)
            page = response.get_data(as_text=True)
            shown = {name for name, message_id in seeded_app.items() if message_id in page}
            # At most the entry that holds the attempt; never the plain one a tautology would add.
            assert "plain" not in shown, (field, attempt)
            assert shown <= {attempt}, (field, attempt)
        export = client.get("/audit/export.csv", query_string={field: value})
        assert export.status_code in (200, 400), (field, attempt)
        assert seeded_app["plain"] not in export.get_data(as_text=True)
    _intact(_app_engine(app), len(seeded_app))


def test_the_search_page_and_the_export_treat_attempts_in_nested_values_as_values(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    with app.app_context():
        ids = _seed_nested(analytics_client.store())
    for attempt in ATTEMPTS:
        search = f"line_items[].sku = {attempt}"
        page = client.get("/audit/", query_string={"prop": search})
        assert page.status_code == 200, attempt
        shown = {name for name, message_id in ids.items() if message_id in page.get_data(as_text=True)}
        assert shown == {attempt}, attempt
        result = runner.invoke(args=["audit", "export", "--format", "ndjson", "--prop", search])
        assert result.exit_code == 0, result.output
        assert [json.loads(line)["message_id"] for line in result.stdout.splitlines()] == [ids[attempt]]
    refused = runner.invoke(args=["audit", "export", "--prop", "line_items[' OR 1=1 --].sku = x"])
    assert (
        refused.exit_code != 0 and "--prop: " in refused.output and "is not a property name" in refused.output
    )
    _intact(_app_engine(app), len(ids))


def test_an_unusable_property_key_is_shown_next_to_the_field(client: FlaskClient) -> None:
    response = client.get("/audit/", query_string={"prop": "' OR 1=1 -- = x"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "is not a property name" in page and "&#39; OR 1=1 --" in page


def test_the_catalog_search_treats_attempts_as_words(client: FlaskClient) -> None:
    for attempt in ATTEMPTS:
        response = client.get("/", query_string={"q": attempt})
        assert response.status_code == 200, attempt
        assert 'href="/events/ClusterProvisioningSuccess"' not in response.get_data(as_text=True), attempt
    assert 'href="/events/ClusterProvisioningSuccess"' in client.get("/").get_data(as_text=True)


def test_the_export_command_treats_attempts_as_values(
    app: Flask, runner: FlaskCliRunner, seeded_app: dict[str, str]
) -> None:
    for attempt in ATTEMPTS:
        result = runner.invoke(
            args=["audit", "export", "--format", "ndjson", "--prop", f"stack_name={attempt}"]
        )
        assert result.exit_code == 0, result.output
        exported = [json.loads(line)["message_id"] for line in result.stdout.splitlines()]
        assert exported == [seeded_app[attempt]]
        result = runner.invoke(args=["audit", "export", "--actor", attempt])
        assert result.exit_code == 0, result.output
        assert seeded_app["plain"] not in result.stdout
        # Read as a name, and one neither the catalog nor the log has: refused as such, nothing exported.
        result = runner.invoke(args=["audit", "export", "--event", attempt])
        assert result.exit_code == 2 and "no event or identify spec named" in result.output, result.output
        assert seeded_app["plain"] not in result.stdout
        refused_id = runner.invoke(args=["audit", "export", "--user-id", attempt])
        assert refused_id.exit_code == 2 and "--user-id: " in refused_id.output
    refused = runner.invoke(args=["audit", "export", "--prop", "' OR 1=1 -- = x"])
    assert refused.exit_code != 0
    assert "--prop: " in refused.output and "is not a property name" in refused.output
    _intact(_app_engine(app), len(seeded_app))


UNSTORABLE = [
    'stack_name = "\\u0000"',
    'stack_name = "a\\u0000b"',
    'stack_name = "\\ud800"',
    'stack_name = "\\udfff x"',
    '"k" = "\\ud83d"',
    'line_items[].sku = "\\u0000"',
    '"\\u0000" = x',
    '"a\\u0000b" = 1',
    'payment_method."\\u0000" = x',
    '"a\\ud800" = 1',
]
"""Property searches whose JSON escapes, in the value or a key at any depth, spell a NUL or a lone
surrogate: text the check on the typed text cannot see, and no entry can hold."""


@pytest.mark.parametrize("search", UNSTORABLE)
def test_an_escape_spelling_unstorable_text_is_a_field_error(search: str) -> None:
    with pytest.raises(FilterError) as raised:
        parse_filters({"prop": search})
    assert set(raised.value.errors) == {"prop"}
    assert raised.value.errors["prop"].startswith("no entry can hold the "), raised.value.errors
    assert "text cannot contain a " in raised.value.errors["prop"]


def test_a_valid_surrogate_pair_escape_is_searched() -> None:
    """JSON spells a character past U+FFFF as two escapes: together they are text like any other."""
    match = parse_filters({"prop": '"\\ud83d\\ude00" = "\\ud83d\\ude00"'}).prop
    assert match is not None and match.path == ("\U0001f600",) and "\U0001f600" in match.candidates


def test_every_view_refuses_an_escape_spelling_unstorable_text(
    make_app: Callable[..., Flask], database_url: str
) -> None:
    """Such a search reached the database, which refused the bind: PostgreSQL the NUL (\\u0000 cannot
    be converted to text), SQLite's driver the surrogate (UTF-8 cannot encode it). Every view that
    searches answered 500, and the export command printed a traceback."""
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    viewer, engineer = signed_in_client(app, Role.VIEWER), signed_in_client(app, Role.ENGINEER)
    runner = app.test_cli_runner()
    for search in UNSTORABLE:
        query = {"prop": search}
        # htmx swaps the fragment that carries the field's error only when it answers 200.
        for headers, status in (({}, 400), ({"HX-Request": "true"}, 200)):
            page = viewer.get("/audit/", query_string=query, headers=headers)
            assert page.status_code == status, (search, headers)
            assert "no entry can hold the " in page.get_data(as_text=True), search
        tail = viewer.get("/audit/tail", query_string=query, headers={"HX-Request": "true"})
        assert tail.status_code == 286, search
        for extension in ("csv", "ndjson"):
            export = viewer.get(f"/audit/export.{extension}", query_string=query)
            assert export.status_code == 400, (search, extension)
            assert "prop: no entry can hold the " in export.get_data(as_text=True), search
        api = viewer.get("/api/audit/entries", query_string=query)
        assert api.status_code == 400 and api.is_json, search
        assert api.get_json()["error"]["fields"]["prop"].startswith("no entry can hold the "), search
        preview = engineer.get("/audit/replay/", query_string=query)
        assert preview.status_code == 400 and "no entry can hold the " in preview.get_data(as_text=True)
        result = runner.invoke(args=["audit", "export", "--prop", search])
        # One line and a non-zero exit, not the database's traceback.
        assert result.exit_code != 0 and isinstance(result.exception, SystemExit), (search, result.output)
        assert result.output.count("\n") == 1 and "--prop: no entry can hold the " in result.output, search
    with app.app_context():
        db.engine.dispose()
