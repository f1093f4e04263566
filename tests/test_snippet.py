"""The Python snippets (the catalog page's "Send it from Python", the tester's "Copy as Python" and
"Copy as pytest") run as shown, send what the example message says, and are ruff-formatted: for the
shipped catalog and for test-only specs with nested models, lists of them, nested enums and dicts."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from nested_specs import CATALOG as NESTED_CATALOG
from nested_specs import (
    LineItem,
    OrderPlaced,
    PaymentKind,
    PaymentMethod,
    nested_catalog,  # noqa: F401  (a fixture)
)
from tester_helpers import HTMX, form_values

import analytics
from analytics.audit import AuditStore
from analytics.catalog import CATALOG, SpecInfo
from analytics.collector import Collector
from analytics.messages import build_message, payload_of
from analytics.python_source import string
from analytics.scopes import ProjectScope
from analytics.snippet import python_snippet
from analytics.spec import IdentifySpec, TrackSpec
from webapp.tester import codegen

ALL_SPECS = [*CATALOG.events.values(), *CATALOG.identifiers.values()]
NESTED_SPECS = [*NESTED_CATALOG.events.values(), *NESTED_CATALOG.identifiers.values()]

LONG_ORDER = OrderPlaced(
    scope=ProjectScope(user_id=123456789, project_id=987654321),
    line_items=[LineItem(sku="enterprise-seat-annual-" + "x" * 50, quantity=1)],
    payment_method=PaymentMethod(kind=PaymentKind.SEPA),
    discounts={"SPRING-CAMPAIGN-2026": 500, "LOYALTY-TIER-GOLD": 1500, "REFERRAL-BONUS": 250},
    tags=["enterprise-renewal", "q3-campaign", 'said "yes"'],
)
"""An order whose lines are too long for one line at every level: each is split as ruff splits it."""


def _send_every_snippet(infos: list[SpecInfo], sqlite_url: str, collector: Collector) -> None:
    analytics.init("key", host=collector.url, database_url=sqlite_url, upload_interval=0.05)
    sent = {}
    try:
        for info in infos:
            namespace: dict[str, object] = {}
            exec(compile(python_snippet(info), f"<snippet {info.constant}>", "exec"), namespace)  # noqa: S102
            receipt = namespace["receipt"]
            assert receipt.ok, (info.constant, receipt.error)  # type: ignore[attr-defined]
            sent[receipt.message_id] = info  # type: ignore[attr-defined]
        analytics.flush()
    finally:
        analytics.shutdown()
    received = {message["messageId"]: message for message in collector.received()}
    assert set(received) == set(sent)
    for message_id, info in sent.items():
        assert payload_of(received[message_id]) == info.example_payload()


def test_every_snippet_runs_and_reaches_the_collector(
    sqlite_store: AuditStore, sqlite_url: str, collector: Collector
) -> None:
    _send_every_snippet(ALL_SPECS, sqlite_url, collector)


def test_snippets_of_nested_models_run_and_reach_the_collector(
    sqlite_store: AuditStore, sqlite_url: str, collector: Collector
) -> None:
    """A nested model was written as its repr (`PaymentMethod(kind=<PaymentKind.CARD: 'card'>)`, a
    SyntaxError), and neither it nor its enum was imported."""
    _send_every_snippet(NESTED_SPECS, sqlite_url, collector)


def test_a_nested_snippet_writes_models_enums_and_lists_as_code_and_imports_them() -> None:
    snippet = python_snippet(NESTED_CATALOG.event("OrderPlace"))
    assert "from nested_specs import LineItem, OrderPlaced, PaymentKind, PaymentMethod\n" in snippet
    assert '            LineItem(sku="pro-seat", quantity=3),\n' in snippet
    assert '        payment_method=PaymentMethod(kind=PaymentKind.CARD, last4="4242"),\n' in snippet
    assert '        tags=["q3-campaign", \'it\\\'s "quoted"\'],\n' in snippet
    identify = python_snippet(NESTED_CATALOG.identifier("BillingProfile"))
    assert "from nested_specs import BillingAddress, BillingProfile\n" in identify


def test_enum_examples_are_written_as_members_and_imported() -> None:
    snippet = python_snippet(CATALOG.event("ClusterProvisioningSuccess"))
    assert "from analytics.tracks import ClusterKind, ClusterProvisioningSuccess" in snippet
    assert "cluster_type=ClusterKind.EKS," in snippet


def _copies(spec: TrackSpec | IdentifySpec) -> list[str]:
    return [codegen.python_snippet(spec), codegen.pytest_snippet(spec, build_message(spec))]


def test_every_snippet_is_as_ruff_formats_it(tmp_path: Path) -> None:
    """As `ruff format` writes it at its default settings, so that pasting it changes nothing a
    formatter would change back (a long scope, a list of strings in single quotes did)."""
    snippets = [python_snippet(info) for info in [*ALL_SPECS, *NESTED_SPECS]]
    for spec in [*(info.example_spec() for info in [*ALL_SPECS, *NESTED_SPECS]), LONG_ORDER]:
        snippets += _copies(spec)
    for number, snippet in enumerate(snippets):
        (tmp_path / f"snippet_{number}.py").write_text(snippet)
    ruff = [sys.executable, "-m", "ruff", "format", "--isolated", "--check", "--diff", str(tmp_path)]
    checked = subprocess.run(ruff, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_copy_as_python_and_pytest_of_nested_values_run_and_build_the_message(
    sqlite_store: AuditStore, sqlite_url: str, collector: Collector
) -> None:
    for spec in [*(info.example_spec() for info in NESTED_SPECS), LONG_ORDER]:
        python, pytest_code = _copies(spec)
        namespace: dict[str, Any] = {}
        exec(compile(pytest_code, "<pytest snippet>", "exec"), namespace)  # noqa: S102
        [test] = [value for name, value in namespace.items() if name.startswith("test_")]
        test()
        analytics.init("key", host=collector.url, database_url=sqlite_url, sync_mode=True)
        try:
            exec(compile(python, "<python snippet>", "exec"), {})  # noqa: S102
        finally:
            analytics.shutdown()
        assert payload_of(collector.received()[-1]) == payload_of(build_message(spec))


@pytest.mark.usefixtures("nested_catalog")
def test_the_tester_s_copies_of_a_nested_event_run(client: FlaskClient) -> None:
    filled = client.get("/tester/?event=OrderPlace&example=1").get_data(as_text=True)
    query = {key: value for key, value in form_values(filled).items() if key != "csrf_token"}
    page = client.post("/tester/preview", data=query, headers=HTMX).get_data(as_text=True)
    snippets = {
        found.group(1): html.unescape(found.group(2))
        for found in re.finditer(
            r'<pre class="code" id="snippet-(\w+)"[^>]*><code>(.*?)</code></pre>', page, re.S
        )
    }
    namespace: dict[str, Any] = {}
    exec(compile(snippets["pytest"], "<pytest snippet>", "exec"), namespace)  # noqa: S102
    [test] = [value for name, value in namespace.items() if name.startswith("test_")]
    test()
    compile(snippets["python"], "<python snippet>", "exec")
    assert 'payment_method=PaymentMethod(kind=PaymentKind.CARD, last4="4242"),' in snippets["python"]


@pytest.mark.parametrize(
    "text", ["a\u202eb", "zero\u200bwidth", "nb\u00a0sp", "héllo 😀", 'say "hi"', "it's", "del\x7fete"]
)
def test_text_in_generated_code_reads_as_it_runs(text: str) -> None:
    """Snippets and imported specs write text through one `string`: a direction control written raw
    made the code read otherwise than it ran (the import's own copy escaped it, the snippets' did not)."""
    source = string(text)
    assert eval(source) == text  # noqa: S307  (the test's own literal)
    assert all(char.isprintable() for char in source)
