"""The audit log's property search reaches nested values by the paths the catalog's rows show.

`payment_method.kind = sepa` is a field of an object, `line_items[].sku = pro-seat` a field of any
item of a list, on SQLite and PostgreSQL alike, with the top-level search's rules (JSON type,
booleans, null, quotes, personal data through its mask). The shipped catalog is flat: these specs
are the test's own, joined to the shipped catalog (`nested_specs.joined_to_catalog`) only where a
test needs its personal-data names. They are not `nested_specs.OrderPlaced`: the search needs
personal data at nested paths (a field some spec marks, a field named like it), a model inside a
list's items and a boolean, which the catalog's, the diff's and the tester's tests would then have to
account for too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from nested_specs import PaymentKind, joined_to_catalog
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from analytics.audit import AuditEntry, AuditStatus, AuditStore
from analytics.messages import build_message
from analytics.payload_paths import MAX_DOTTED, MAX_STEPS
from analytics.personal_data import mask_value
from analytics.queries import (
    FilterError,
    conditions,
    histogram,
    newest_first,
    parse_filters,
    summary,
)
from analytics.replay import REPLAY_ACTION
from analytics.scopes import ProjectScope, UserScope
from analytics.spec import Category, IdentifySpec, SpecRegistry, Team, TrackSpec, prop
from webapp.audit.visibility import VIEWER_PROP_ERROR
from webapp.auth.roles import Role
from webapp.extensions import analytics_client

MASK_KEY = b"event-catalog"  # the store fixture's default key

REGISTRY = SpecRegistry()


class InvoiceEvent(StrEnum):
    """The test event's name."""

    InvoicePay = "Invoice Paid"


class Discount(BaseModel):
    """A discount on one line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = prop("Discount code.", example="SPRING")


class LineItem(BaseModel):
    """One line of an invoice."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str = prop("Product SKU.", example="pro-seat")
    quantity: int = prop("How many units.", example=3)
    buyer_email: str | None = prop(
        "Who bought it.", example="ap@example.com", personal_data=True, default=None
    )
    discount: Discount | None = prop("Its discount.", example={"code": "SPRING"}, default=None)


class PaymentMethod(BaseModel):
    """How an invoice was paid."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: PaymentKind = prop("Payment kind.", example=PaymentKind.CARD)
    verified: bool = prop("Whether the method was verified.", example=True)
    last4: str | None = prop("Last four digits.", example="4242", default=None)
    # Personal by the spec's word only: its name does not look like personal data.
    cardholder_name: str | None = prop("Name on the card.", example="Ada", personal_data=True, default=None)


class InvoicePaid(
    TrackSpec,
    event=InvoiceEvent.InvoicePay,
    category=Category.ONBOARDING,
    owner=Team.GROWTH,
    registry=REGISTRY,
):
    """An invoice was paid."""

    scope: ProjectScope
    line_items: list[LineItem] = prop("Items invoiced.", example=[{"sku": "pro-seat", "quantity": 3}])
    payment_method: PaymentMethod = prop("How it was paid.", example={"kind": "card", "verified": True})
    tags: list[str] = prop("Free-form tags.", example=["vip"], default=[])


class BillingAddress(BaseModel):
    """Where invoices go."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    country: str = prop("Country code.", example="DE")
    recipient_name: str | None = prop("Who receives them.", example="Ada", personal_data=True, default=None)


class BillingProfile(IdentifySpec, name="Billing profile test", owner=Team.IDENTITY, registry=REGISTRY):
    """Who pays."""

    scope: UserScope
    address: BillingAddress | None = prop("Billing address.", example={"country": "DE"}, default=None)


def _invoice(**values: Any) -> dict[str, Any]:
    return build_message(InvoicePaid(scope=ProjectScope(user_id=7, project_id=12), **values))


def _messages() -> dict[str, dict[str, Any]]:
    """The entries to search, by name: messages as the client builds them, and one of other shapes."""
    null_last4 = _invoice(
        line_items=[{"sku": "3", "quantity": 2}],
        payment_method={"kind": "card", "verified": False},
    )
    # A None field is left out of a message; JSON's null is written in by hand, as a raw send has it.
    null_last4["properties"]["payment_method"]["last4"] = None
    # The same keys holding other shapes: an object where a list was, a list where an object was, a
    # text where a list of texts was, and a track that carries an address too.
    shapes = _invoice(
        line_items=[{"sku": "x", "quantity": 1}], payment_method={"kind": "card", "verified": True}
    )
    shapes["properties"].update(
        line_items={"sku": "pro-seat", "quantity": 3},
        payment_method=[{"kind": "sepa", "verified": True}],
        tags="vip",
        address={"country": "DE"},
    )
    return {
        "sepa": _invoice(
            line_items=[{"sku": "pro-seat", "quantity": 3}],
            payment_method={"kind": "sepa", "verified": True, "cardholder_name": "Grace Hopper"},
            tags=["vip", "q3"],
        ),
        "card": _invoice(
            line_items=[
                {"sku": "seat", "quantity": 1, "buyer_email": "grace@example.com"},
                {"sku": "build-minutes", "quantity": 1000, "discount": {"code": "SPRING"}},
            ],
            payment_method={"kind": "card", "verified": False, "last4": "4242"},
        ),
        "null_last4": null_last4,
        "shapes": shapes,
        "profile": build_message(
            BillingProfile(
                scope=UserScope(user_id=8),
                address={"country": "DE", "recipient_name": "Ada Lovelace"},
            )
        ),
    }


def _record(store: AuditStore, message: dict[str, Any], status: AuditStatus = AuditStatus.DELIVERED) -> str:
    spec = BillingProfile if message["type"] == "identify" else InvoicePaid
    store.record(message, status=status, source="application", personal_data_keys=spec.personal_data_keys())
    return str(message["messageId"])


@pytest.fixture
def seeded(store: AuditStore) -> dict[str, str]:
    """The entries on each kind of database, by name → messageId."""
    return {name: _record(store, message) for name, message in _messages().items()}


@pytest.fixture
def invoices_in_catalog() -> Iterator[None]:
    """The shipped catalog with this module's specs: their personal fields' names are then the
    catalog's personal-data names."""
    with joined_to_catalog(REGISTRY):
        yield


def _matches(
    engine: Engine, ids: dict[str, str], params: dict[str, str], mask_key: bytes | None = MASK_KEY
) -> set[str]:
    """The names of the entries a search finds; its count and histogram agree with the page."""
    filters = parse_filters(params, mask_key=mask_key)
    names = {message_id: name for name, message_id in ids.items()}
    with Session(engine) as session:
        found = [names[entry.message_id] for entry in session.scalars(newest_first(filters, limit=100))]
        count = session.execute(summary(filters)).one()[0]
        bucketed = sum(n for _, _, n in session.execute(histogram(filters, 3600)))
    assert count == bucketed == len(found), params
    return set(found)


NESTED_SEARCHES: list[tuple[dict[str, str], set[str]]] = [
    # `payment_method` is an object in every entry but "shapes", where it is a list of them.
    ({"prop": "payment_method.kind = sepa"}, {"sepa", "shapes"}),
    ({"prop": 'payment_method.kind = "sepa"'}, {"sepa", "shapes"}),
    ({"prop": "payment_method.kind=card"}, {"card", "null_last4"}),
    ({"prop": "payment_method.kind = SEPA"}, set()),
    ({"prop": "payment_method.verified = true"}, {"sepa", "shapes"}),
    ({"prop": "payment_method.verified = False"}, {"card", "null_last4"}),
    ({"prop": "payment_method.last4 = null"}, {"null_last4"}),
    ({"prop": "payment_method.last4 = 4242"}, {"card"}),
    # Any item of the list, not only the first.
    ({"prop": "line_items[].sku = pro-seat"}, {"sepa"}),
    ({"prop": "line_items[].sku = build-minutes"}, {"card"}),
    ({"prop": "line_items[].quantity = 1000"}, {"card"}),
    # A number in quotes finds the number and the text; the text "3" is a sku, not a quantity.
    ({"prop": 'line_items[].quantity = "3"'}, {"sepa"}),
    ({"prop": "line_items[].sku = 3"}, {"null_last4"}),
    ({"prop": "line_items[].discount.code = SPRING"}, {"card"}),
    ({"prop": "tags[] = q3"}, {"sepa"}),
    # A name followed by `.` reads an object or any item of a list, as MongoDB's dotted paths do:
    # `line_items` is a list but in "shapes", where it is one object.
    ({"prop": "line_items.sku = pro-seat"}, {"sepa", "shapes"}),
    ({"prop": "line_items.sku = build-minutes"}, {"card"}),
    ({"prop": "line_items.quantity = 1000"}, {"card"}),
    ({"prop": "line_items.discount.code = SPRING"}, {"card"}),
    ({"prop": "line_items[].discount.code = SPRING"}, {"card"}),
    ({"prop": "line_items.sku = 3"}, {"null_last4"}),
    # `[]` reads a list's items only, and the value a path ends at is compared as it is.
    ({"prop": "payment_method[].kind = sepa"}, {"shapes"}),
    ({"prop": "tags = vip"}, {"shapes"}),
    ({"prop": "tags[] = vip"}, {"sepa"}),
    # Traits too, where the top-level search reads them.
    ({"prop": "address.country = DE"}, {"profile", "shapes"}),
    ({"prop": "address.country = DE", "type": "identify"}, {"profile"}),
    ({"prop": "address.country = DE", "type": "track"}, {"shapes"}),
    ({"prop": "line_items[].sku = pro-seat", "type": "identify"}, set()),
]


def test_a_nested_path_finds_exactly_the_entries_holding_the_value_there(
    engine: Engine, seeded: dict[str, str]
) -> None:
    """`payment_method.kind=sepa` was refused: "'payment_method.kind' is not a property name"."""
    wrong = {}
    for params, expected in NESTED_SEARCHES:
        found = _matches(engine, seeded, params)
        if found != expected:
            wrong[str(params)] = {"missing": expected - found, "unexpected": found - expected}
    assert wrong == {}


@pytest.mark.usefixtures("invoices_in_catalog")
def test_nested_personal_data_matches_through_its_mask(engine: Engine, seeded: dict[str, str]) -> None:
    """A spec's personal field (`cardholder_name`, whose name does not say so) and a field named like
    personal data are stored masked at their paths; the search finds them as the top-level one does."""
    personal = {
        "payment_method.cardholder_name = Grace Hopper": {"sepa"},
        "line_items[].buyer_email = grace@example.com": {"card"},
        "address.recipient_name = Ada Lovelace": {"profile"},
    }
    for search, expected in personal.items():
        assert _matches(engine, seeded, {"prop": search}) == expected, search
        # Without the key, only the clear text, which the log does not hold.
        assert _matches(engine, seeded, {"prop": search}, mask_key=None) == set(), search
    masked = mask_value("Grace Hopper", MASK_KEY)
    assert _matches(engine, seeded, {"prop": f"payment_method.cardholder_name = {masked}"}) == {"sepa"}
    for search, personal in (("line_items[].buyer_email = x", True), ("line_items[].sku = x", False)):
        match = parse_filters({"prop": search}).prop
        assert match is not None and match.personal is personal, search


@pytest.mark.parametrize(
    "key",
    [
        "line_items[0].sku",
        "a..b",
        ".a",
        "a.",
        "a[]b",
        "a[",
        "[].a",
        "a b",
        "a.b-c",
        "a.*.b",
        'a."b"c',
        "a.$",
        "1a",
    ],
)
def test_a_key_that_is_no_path_is_refused_naming_the_rule(key: str) -> None:
    with pytest.raises(FilterError) as refused:
        parse_filters({"prop": f"{key} = x"})
    assert refused.value.errors == {
        "prop": f"{key!r} is not a property name or path: names of letters, digits and _ (any script), or "
        'any other key in double quotes ("E-Mail"), with . before a field of an object (payment_method.kind) '
        "and [] after a list's name for any of its items (line_items[].sku)"
    }


OTHER_KEYS = {
    "größe": 1,
    "名前": "山田太郎",
    "E-Mail": "ada@example.de",
    "a.b": "dot",
    "a=b": "eq",
    "cafe\u0301": "nfd",
}
"""Off-schema keys the tester and the JSON API accept and the log stores: letters of other scripts, a
combining mark, and keys holding `-`, `.` or `=`, which a search writes in double quotes."""


@pytest.mark.parametrize(
    "search",
    [
        "größe = 1",
        "名前 = 山田太郎",
        '"E-Mail" = ada@example.de',
        '"a.b" = dot',
        '"a=b" = eq',
        "cafe\u0301 = nfd",
        '"größe" = 1',
        'nested."E-Mail" = inner',
        'nested."E-Mail"=inner',
        'list[]."名前" = item',
    ],
)
def test_keys_in_any_script_or_quoted_are_searched_on_either_database(
    engine: Engine, store: AuditStore, search: str
) -> None:
    """`größe = 1` was refused as "not … names of letters, digits and _", and `E-Mail` could not be
    written at all: such keys were stored and never found."""
    message = _invoice(
        line_items=[{"sku": "s", "quantity": 1}], payment_method={"kind": "card", "verified": True}
    )
    message["properties"].update(OTHER_KEYS, nested={"E-Mail": "inner"}, list=[{"名前": "item"}])
    other = _invoice(
        line_items=[{"sku": "s", "quantity": 1}], payment_method={"kind": "card", "verified": True}
    )
    ids = {"own": _record(store, message), "other": _record(store, other)}
    assert _matches(engine, ids, {"prop": search}, mask_key=None) == {"own"}
    key, _, value = search.rpartition("=")
    assert _matches(engine, ids, {"prop": f"{key}= not-{value.strip()}"}, mask_key=None) == set()


def test_the_key_that_reads_as_a_list_s_items_is_refused_saying_so() -> None:
    with pytest.raises(FilterError) as refused:
        parse_filters({"prop": '"[]" = x'})
    assert refused.value.errors == {
        "prop": "'\"[]\"': the key [] cannot be searched (it reads as a list's items)"
    }


@pytest.mark.parametrize(
    "key",
    ['say "hi"', '"', 'größe "x"', "C:\\temp", '\\"', "a.b", "a[", "a[0]", "[", "$", "$.a", "it's", "'"],
)
def test_a_key_holding_json_path_syntax_is_searched_on_either_database(
    engine: Engine, store: AuditStore, key: str
) -> None:
    """`"say \\"hi\\"" = x` was refused ("a key holding a double quote … cannot be searched"): SQLite's
    JSON paths cannot spell a `"`, so such a key was stored and never found, at the top or nested. A
    key is written in JSON's double quotes with JSON's escapes; `.` in it is part of it."""
    quoted = json.dumps(key, ensure_ascii=False)

    def invoice(value: str) -> dict[str, Any]:
        message = _invoice(
            line_items=[{"sku": "s", "quantity": 1}], payment_method={"kind": "card", "verified": True}
        )
        message["properties"].update(
            {key: value},
            nested={key: {"inner": value}},
            listed=[{"other": "x"}, {key: value}],
            wrapped={key: ["x", value]},
            twice={key: {key: value}},
        )
        return message

    ids = {"own": _record(store, invoice("v")), "other": _record(store, invoice("w"))}
    for path in (
        quoted,
        f"nested.{quoted}.inner",
        f"listed[].{quoted}",
        f"listed.{quoted}",
        f"wrapped.{quoted}[]",
        f"twice.{quoted}.{quoted}",
    ):
        assert _matches(engine, ids, {"prop": f"{path} = v"}, mask_key=None) == {"own"}, path
        assert _matches(engine, ids, {"prop": f'{path} = "w"'}, mask_key=None) == {"other"}, path
    # The value is compared as it is: a list is not its item, an object not its member's value.
    assert _matches(engine, ids, {"prop": f"wrapped.{quoted} = v"}, mask_key=None) == set()
    assert _matches(engine, ids, {"prop": f"nested.{quoted} = v"}, mask_key=None) == set()


def test_a_path_with_more_names_that_may_read_a_list_than_any_property_has_is_refused() -> None:
    """Each name followed by `.` doubles what the search reads: `a.b.c` stands for four paths."""
    dotted = ".".join(["a"] * (MAX_DOTTED + 1))
    assert parse_filters({"prop": f"{dotted} = x"}).prop is not None
    with pytest.raises(FilterError) as refused:
        parse_filters({"prop": f"{dotted}.b = x"})
    assert refused.value.errors == {
        "prop": f"'{dotted}.b' is too deep a path: at most {MAX_DOTTED} names followed by . (each reads an "
        "object or a list's items; write [] after a list's name to say which)"
    }
    # Names followed by `[]` say which they read, and do not count.
    assert parse_filters({"prop": f"{'[].'.join(['a'] * (MAX_DOTTED + 4))} = x"}).prop is not None


def test_the_most_dotted_path_runs_on_either_database(engine: Engine, store: AuditStore) -> None:
    """Every name of `a.a.….a` may be an object or a list: the search reads each spelling."""
    deep: Any = "x"
    for level in range(MAX_DOTTED + 1):
        deep = {"a": [deep] if level % 2 else deep}
    message = _invoice(
        line_items=[{"sku": "s", "quantity": 1}], payment_method={"kind": "card", "verified": True}
    )
    message["properties"]["a"] = deep["a"]
    own = _record(store, message)
    path = ".".join(["a"] * (MAX_DOTTED + 1))
    assert _matches(engine, {"own": own}, {"prop": f"{path} = x"}) == {"own"}
    assert _matches(engine, {"own": own}, {"prop": f"{path} = y"}) == set()


def test_a_path_deeper_than_any_property_is_refused() -> None:
    deepest = ".".join(["a[]"] * (MAX_STEPS // 2))
    assert parse_filters({"prop": f"{deepest} = x"}).prop is not None
    with pytest.raises(FilterError) as refused:
        parse_filters({"prop": f"{deepest}.b = x"})
    assert "too deep a path: at most 32 names and []" in refused.value.errors["prop"]


def test_the_deepest_path_runs_on_either_database(engine: Engine, store: AuditStore) -> None:
    """Each list step is a subquery on SQLite: the deepest path allowed still compiles and runs."""
    deep: Any = "x"
    for _ in range(MAX_STEPS // 2):
        deep = {"a": [deep]}
    message = _invoice(
        line_items=[{"sku": "s", "quantity": 1}], payment_method={"kind": "card", "verified": True}
    )
    message["properties"]["a"] = deep["a"]
    own = _record(store, message)
    path = ".".join(["a[]"] * (MAX_STEPS // 2))
    assert _matches(engine, {"own": own}, {"prop": f"{path} = x"}) == {"own"}
    assert _matches(engine, {"own": own}, {"prop": f"{path} = y"}) == set()


COMPOSED, DECOMPOSED = "Jos\u00e9 Caf\u00e9", "Jose\u0301 Cafe\u0301"
"""One text in Unicode's two spellings: `é` as one character (most keyboards) and as `e` + U+0301
(macOS input, some copy-pastes). Neither the library nor the databases normalise what is recorded."""


@pytest.mark.usefixtures("invoices_in_catalog")
@pytest.mark.parametrize("typed", [COMPOSED, DECOMPOSED], ids=["typed-composed", "typed-decomposed"])
def test_a_value_is_found_in_either_unicode_form_on_either_database(
    engine: Engine, store: AuditStore, typed: str
) -> None:
    """A value stored composed was not found when typed decomposed, nor the other way round: the
    search compared the text as typed, and a personal value's mask is of the text as sent."""
    ids = {}
    for name, text in (("composed", COMPOSED), ("decomposed", DECOMPOSED), ("other", "Jose Cafe")):
        message = _invoice(
            line_items=[{"sku": text, "quantity": 1}],
            payment_method={"kind": "card", "verified": True, "cardholder_name": text},
        )
        message["properties"]["venue"] = text
        ids[name] = _record(store, message)
    both = {"composed", "decomposed"}
    for search in ("venue", "line_items[].sku", "line_items.sku", "payment_method.cardholder_name"):
        assert _matches(engine, ids, {"prop": f"{search} = {typed}"}) == both, search
        assert _matches(engine, ids, {"prop": f'{search} = "{typed}"'}) == both, search
    assert _matches(engine, ids, {"prop": "venue = Jose Cafe"}) == {"other"}


def test_a_value_s_unicode_forms_are_read_from_the_same_index_on_sqlite(sqlite_store: AuditStore) -> None:
    """Each form is one more candidate of the same test on the rows the other filters select: a
    search for accented text reads the index an unaccented one reads, never the whole log."""
    engine = sqlite_store.engine
    plans = []
    for value in ("Cafe", DECOMPOSED):
        query = newest_first(parse_filters({"prop": f"venue = {value}", "project": "12"}), limit=51)
        literal = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
        with engine.connect() as connection:
            plans.append([row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {literal}")])
    assert plans[0] == plans[1] and "project_id_recorded_at" in " ".join(plans[1]), plans


def test_a_nested_search_is_served_by_a_gin_index_on_postgresql(postgres_engine: Engine) -> None:
    """JSONB containment of a nested object or a list's items (`@>`) is what a GIN index answers."""
    with postgres_engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE INDEX ix_test_payload ON audit_entries USING gin (payload jsonb_path_ops)"
        )
    searches = ("payment_method.kind = sepa", "line_items[].discount.code = SPRING", f"venue = {DECOMPOSED}")
    for search in searches:
        query = select(AuditEntry.id).where(*conditions(parse_filters({"prop": search})))
        compiled = query.compile(postgres_engine)
        # Bound as the query binds them (JSON text cast to JSONB): no literal form exists for JSONB.
        params = {name: json.dumps(value) for name, value in compiled.params.items()}
        with postgres_engine.connect() as connection:
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(str(row) for row in connection.exec_driver_sql(f"EXPLAIN {compiled}", params))
        # Partitions name their copies of the index after themselves (`audit_entries_p…_payload_idx`).
        assert "Index Cond: (payload @> " in plan and "Seq Scan" not in plan, plan


# --- the dashboard, its API and the command line -------------------------------------------------


@pytest.fixture
def keyed_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(AUDIT_ENCRYPTION_KEY=Fernet.generate_key().decode())


def _app_seeded(app: Flask, status: AuditStatus = AuditStatus.DELIVERED) -> dict[str, str]:
    with app.app_context():
        store = analytics_client.store()
        return {name: _record(store, message, status) for name, message in _messages().items()}


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [entry["message_id"] for entry in response.get_json()["entries"]]


@pytest.mark.usefixtures("invoices_in_catalog")
def test_the_api_and_the_page_search_nested_paths_and_refuse_a_viewer_nested_personal_data(
    keyed_app: Flask, login_as: Callable[..., FlaskClient]
) -> None:
    ids = _app_seeded(keyed_app)
    engineer = login_as(Role.ENGINEER, on=keyed_app)
    viewer = login_as(Role.VIEWER, on=keyed_app)
    for client in (engineer, viewer):
        for search in ("line_items[].sku = build-minutes", "line_items.sku = build-minutes"):
            found = client.get("/api/audit/entries", query_string={"prop": search})
            assert _ids(found) == [ids["card"]], search
        page = client.get("/audit/", query_string={"prop": "payment_method.kind = sepa"})
        assert page.status_code == 200
        assert ids["sepa"] in page.get_data(as_text=True) and ids["card"] not in page.get_data(as_text=True)
    personal = {"prop": "payment_method.cardholder_name = Grace Hopper"}
    assert _ids(engineer.get("/api/audit/entries", query_string=personal)) == [ids["sepa"]]
    refused = viewer.get("/api/audit/entries", query_string=personal)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["fields"] == {"prop": VIEWER_PROP_ERROR}
    bad = engineer.get("/audit/", query_string={"prop": "line_items[0].sku = x"})
    assert bad.status_code == 400
    assert "[] after a list&#39;s name for any of its items (line_items[].sku)" in bad.get_data(as_text=True)


def test_the_export_command_takes_a_nested_path(app: Flask) -> None:
    ids = _app_seeded(app)
    result = app.test_cli_runner().invoke(
        args=["audit", "export", "--format", "ndjson", "--prop", "line_items[].discount.code=SPRING"]
    )
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["message_id"] for line in result.stdout.splitlines()] == [ids["card"]]


@pytest.mark.usefixtures("invoices_in_catalog")
def test_a_resend_narrowed_by_a_nested_personal_value_records_its_mask(
    keyed_app: Flask, login_as: Callable[..., FlaskClient]
) -> None:
    """The re-send's action is read by every role: a nested personal value must go in as its mask."""
    ids = _app_seeded(keyed_app, AuditStatus.FAILED)
    client = login_as(Role.ADMIN, on=keyed_app)
    search = "payment_method.cardholder_name = Grace Hopper"
    url = "/audit/replay/?" + urlencode({"status": "failed", "prop": search})
    token = client.get("/audit/").get_data(as_text=True).split('"X-CSRFToken": "', 1)[1].split('"', 1)[0]
    # The click confirms what the widget offered (`webapp.replay.routes.Offer`).
    widget = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    offer = widget.split('name="offer" value="', 1)[1].split('"', 1)[0]
    response = client.post(url, data={"csrf_token": token, "offer": offer})
    assert response.status_code == 303
    with keyed_app.app_context():
        store = analytics_client.store()
        masked = mask_value("Grace Hopper", store.mask_key)
        with Session(store.engine) as session:
            [details] = session.scalars(
                select(AuditEntry.payload).where(
                    AuditEntry.type == "action", AuditEntry.event == REPLAY_ACTION
                )
            ).all()
        entry = store.entry(ids["sepa"])
    assert entry is not None and entry.status != AuditStatus.FAILED  # re-sent: the search found it
    selection = details["properties"]["selection"]
    assert "Grace Hopper" not in selection
    assert parse_qs(selection)["prop"] == [f"payment_method.cardholder_name = {masked}"]
