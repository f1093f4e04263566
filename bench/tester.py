"""The tester's round trip: from pressing Send until the result panel shows `delivered`.

Ours is the htmx form post a browser makes to the dashboard under gunicorn (compose, claim the form
token, audit, send to the local collector, read the outcome back, render the panel); each send uses
the fresh form token the previous answer carried, as the browser does. The baseline is one bare HTTP
POST of the same message, as Segment's `/v1/batch` body, to the same collector over a kept-alive
connection, which is what the Segment client itself does. The log already holds `SEEDED` entries,
as a dashboard in use does: the tester's page reads the latest of them for its recent ids.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from html import unescape
from typing import Any

import requests

from analytics.audit import create_audit_engine
from analytics.collector import Collector
from bench import storage
from bench.dashboard import WRITE_KEY, served, signed_in
from bench.harness import Row, median, percentile, timed

EVENT = "ClusterProvisioningSuccess"
FORM = {
    "scope.user_id": "1",
    "scope.project_id": "12",
    "scope.cluster_id": "4",
    "prop.cluster_type": "eks",
    "prop.infra_id": "9",
}
HTMX = {"HX-Request": "true"}
WARM_UP = 5
SEEDED = storage.SMALL
_HIDDEN = re.compile(r'<input type="hidden" name="(csrf_token|token|spec|mode)" value="([^"]*)"')
# The result panel's status badge; its classes are the page's business (they style and texture it).
_DELIVERED = re.compile(r'<span [^>]*id="result-status"[^>]*>delivered</span>')


def hidden_fields(page: str) -> dict[str, str]:
    """The tester form's hidden state on a page or in a send's answer (tokens, spec, mode)."""
    return {name: unescape(value) for name, value in _HIDDEN.findall(page)}


def shows_delivered(answer: str) -> bool:
    """Whether a send's answer shows the result panel with `delivered`, as a person would see it."""
    return _DELIVERED.search(answer) is not None


class FormSender:
    """Presses Send on the tester form again and again, as a signed-in browser with htmx would."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = signed_in(url)
        page = self.session.get(f"{url}/tester/", params={"event": EVENT}, timeout=10)
        page.raise_for_status()
        self.fields = hidden_fields(page.text)

    def send(self) -> None:
        """One send; raises unless the answer shows `delivered`."""
        response = self.session.post(
            f"{self.url}/tester/send", data={**self.fields, **FORM}, headers=HTMX, timeout=30
        )
        if response.status_code != 200 or not shows_delivered(response.text):
            raise RuntimeError(f"the tester's send answered {response.status_code} without `delivered`")
        # What the answer carries replaces those fields (a fresh form token); the rest of the form stays.
        self.fields = {**self.fields, **hidden_fields(response.text)}


def sent_message(url: str, collector: Collector) -> dict[str, Any]:
    """The message the tester sends, as the collector received it (the baseline posts the same)."""
    FormSender(url).send()
    return collector.received()[-1]


def bare_post(collector: Collector, message: dict[str, Any]) -> Callable[[], None]:
    """One `/v1/batch` POST of `message` under a new id per call, on a kept-alive session."""
    session = requests.Session()
    session.auth = (WRITE_KEY, "")

    def post() -> None:
        sent_at = datetime.now(UTC).isoformat()
        batch = {"batch": [{**message, "messageId": str(uuid.uuid4())}], "sentAt": sent_at}
        session.post(f"{collector.url}/v1/batch", json=batch, timeout=30).raise_for_status()

    return post


def _samples(action: Callable[[], None], repeats: int) -> list[float]:
    for _ in range(WARM_UP):
        action()
    return [timed(action) for _ in range(repeats)]


def rows(database: str, database_url: str, repeats: int) -> list[Row]:
    """The round-trip rows (median and p95 of `repeats` sends) on one database."""
    engine = create_audit_engine(database_url)
    storage.seed(engine, SEEDED, datetime.now(UTC))
    engine.dispose()
    with Collector(max_messages=1000) as collector, served(database_url, collector.url) as url:
        baseline = _samples(bare_post(collector, sent_message(url, collector)), repeats)
        sender = FormSender(url)
        ours = _samples(sender.send, repeats)
    print(
        f"  [{database}] tester round trip: median {median(ours) * 1e3:.1f} ms, p95 "
        f"{percentile(ours, 0.95) * 1e3:.1f} ms; bare POST: median {median(baseline) * 1e3:.2f} ms, "
        f"p95 {percentile(baseline, 0.95) * 1e3:.2f} ms ({repeats} sends each)"
    )
    return [
        Row(
            f"tester round trip (send → delivered shown), median of {repeats} [{database}]",
            median(baseline) * 1e3,
            median(ours) * 1e3,
            "ms",
            3.0,
        ),
        Row(
            f"tester round trip (send → delivered shown), p95 of {repeats} [{database}]",
            percentile(baseline, 0.95) * 1e3,
            percentile(ours, 0.95) * 1e3,
            "ms",
            3.0,
        ),
    ]
