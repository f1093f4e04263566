"""The load `bench.load` puts on the dashboard: people reading the catalog and the audit log, and testing.

Run by locust in its own process (gevent patches the standard library there, so nothing else of the
project is imported). Each simulated person signs in through the form, then browses: the catalog's
event list, audit searches a reviewer makes, and now and then a tester send to the local collector.
A request fails unless it answers 2xx with the page (or the `delivered` outcome) it should.
"""

from __future__ import annotations

import os
import random
import re
from html import unescape

from locust import HttpUser, between, task

EMAIL = os.environ["BENCH_EMAIL"]
PASSWORD = os.environ["BENCH_PASSWORD"]
SEARCHES = (
    {},
    {"event": "Cluster Provisioning Success"},
    {"status": "failed,dropped"},
    {"user_id": "42"},
    {"project": "7", "range": "24h"},
)
SEND = {
    "event": "ClusterProvisioningSuccess",
    "scope": {"user_id": 1, "project_id": 12, "cluster_id": 4},
    "properties": {"cluster_type": "eks", "infra_id": 9},
}
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]*)"')


class Person(HttpUser):
    """A signed-in engineer using the dashboard."""

    wait_time = between(0.05, 0.25)

    def on_start(self) -> None:
        """Sign in through the form, as a browser does (CSRF token from the page, then the POST)."""
        page = self.client.get("/login", name="sign-in form")
        token = _CSRF.search(page.text)
        csrf_token = unescape(token.group(1)) if token else ""
        credentials = {"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_token}
        with self.client.post(
            "/login", data=credentials, name="sign-in", allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code != 303:
                response.failure(f"sign-in answered {response.status_code}, not 303")

    @task(3)
    def catalog(self) -> None:
        """The catalog's event list, with last-seen and 7-day counts from the audit log."""
        with self.client.get("/", name="catalog", catch_response=True) as response:
            if response.status_code != 200 or "<table" not in response.text:
                response.failure(f"catalog answered {response.status_code} without its table")

    @task(3)
    def audit_search(self) -> None:
        """One of a reviewer's searches, newest first."""
        params = random.choice(SEARCHES)
        with self.client.get("/audit/", params=params, name="audit search", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"audit search {params} answered {response.status_code}")

    @task(1)
    def tester_send(self) -> None:
        """A test send through the tester's JSON API; it must come back `delivered`."""
        with self.client.post(
            "/api/tester/send", json=SEND, name="tester send", catch_response=True
        ) as response:
            is_json = response.headers.get("Content-Type", "").startswith("application/json")
            status = response.json().get("status") if is_json else None
            if response.status_code != 200 or status != "delivered":
                response.failure(f"tester send answered {response.status_code}, status {status}")
