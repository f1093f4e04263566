"""`/api/catalog`: the registry as JSON, with ETags that make polling cheap, and JSON errors."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from flask.testing import FlaskClient

from analytics.catalog import CATALOG
from webapp.api import routes


def test_catalog_api_serves_the_whole_registry(client: FlaskClient) -> None:
    response = client.get("/api/catalog")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["ETag"]
    body = response.get_json()
    assert body["version"] == CATALOG.version
    assert [event["name"] for event in body["events"]] == list(CATALOG.events)
    assert [identify["name"] for identify in body["identifiers"]] == list(CATALOG.identifiers)
    assert [scope["label"] for scope in body["scopes"]] == [s.label for s in CATALOG.scopes]
    success = next(e for e in body["events"] if e["constant"] == "ClusterProvisioningSuccess")
    assert success["scope"] == "Cluster" and success["owner"] == "infrastructure"
    assert [p["name"] for p in success["properties"]] == ["proj_id", "cluster_id", "cluster_type", "infra_id"]
    jsonschema.Draft202012Validator.check_schema(success["json_schema"])
    deprecated = next(e for e in body["events"] if e["constant"] == "StackLaunchComplete")
    assert deprecated["status"] == "deprecated" and deprecated["replaced_by"] == "Stack Launch Success"


@pytest.mark.parametrize("path", ["/api/catalog", "/api/catalog/events/UserCreate"])
def test_etag_round_trip_answers_304(client: FlaskClient, path: str) -> None:
    first = client.get(path)
    etag = first.headers["ETag"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    stale = client.get(path, headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.data == first.data


def test_the_catalog_document_is_built_once_and_its_etag_hashes_the_body(
    client: FlaskClient, count_calls: Callable[..., list[Any]]
) -> None:
    """Every poll rebuilt the whole document (0.2-0.4 s at 300 events), 304s included."""
    builds = count_calls(routes, "catalog_document")
    first = client.get("/api/catalog")
    assert first.status_code == 200
    assert first.headers["ETag"] == f'"{hashlib.sha256(first.data).hexdigest()[:20]}"'
    again = client.get("/api/catalog", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.headers["ETag"] == first.headers["ETag"]
    assert client.get("/api/catalog").data == first.data
    assert [call.args for call in builds] == [(CATALOG,)]


def test_each_document_has_its_own_etag(client: FlaskClient) -> None:
    etags = {client.get(path).headers["ETag"] for path in ("/api/catalog", "/api/catalog/events/UserCreate")}
    assert len(etags) == 2


@pytest.mark.parametrize("name", ["UserCreate", "New User"])
def test_one_event_by_constant_or_string(client: FlaskClient, name: str) -> None:
    response = client.get(f"/api/catalog/events/{name}")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["name"], body["constant"], body["version"]) == ("New User", "UserCreate", CATALOG.version)
    assert body["personal_data"] is True


def test_unknown_event_is_a_json_404(client: FlaskClient) -> None:
    response = client.get("/api/catalog/events/NoSuchEvent")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == {
        "status": 404,
        "name": "Not Found",
        "message": "The catalog has no event “NoSuchEvent”.",
    }


def test_wrong_method_is_a_json_405(client: FlaskClient) -> None:
    response = client.post("/api/catalog")
    assert response.status_code == 405
    assert response.mimetype == "application/json"


@pytest.mark.parametrize(
    ("method", "path", "says"),
    [
        ("GET", "/api/catalog", "takes no query parameter"),
        ("GET", "/api/catalog/events/UserCreate", "takes no query parameter"),
        ("GET", "/api/tester/destinations", "takes no query parameter"),
        # A script's `?dry_run=true` was ignored: the send went out for real.
        ("POST", "/api/tester/send", "go in the JSON body"),
    ],
)
def test_an_unknown_query_parameter_is_a_json_400_on_every_api_answer(
    client: FlaskClient, method: str, path: str, says: str
) -> None:
    """`/api/catalog?foo=1` answered 200 where `/api/audit/entries?foo=1` answered 400."""
    body = {"event": "ProjectCreate", "scope": {"user_id": 1, "project_id": 12}, "dry_run": True}
    response = client.open(path, method=method, query_string={"dry_run": "true"}, json=body)
    assert response.status_code == 400 and response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert list(error["fields"]) == ["dry_run"] and says in error["fields"]["dry_run"]
    assert client.open(path, method=method, json=body).status_code == 200
    # A CORS preflight carries the query string of the request it asks about.
    assert client.options(path, query_string={"dry_run": "true"}).status_code == 200
