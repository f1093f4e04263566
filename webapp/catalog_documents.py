"""What the catalog alone determines, built once per process: `/api/catalog`, its per-event
documents, the downloads, and the spec part of the list's JSON.

`CATALOG` is imported code and cannot change while the process runs, yet these documents took
0.1-0.4 s each to build at 300 events, for every poll (304s included) and every download. They are
kept in the app's `extensions`, keyed by the catalog object (a test that swaps the catalog gets its
own) because the JSON the app writes follows the app's settings. Two requests that miss at once both
build the same document and the second replaces the first: no lock is needed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar, cast
from weakref import WeakKeyDictionary

from flask import current_app, jsonify

from analytics.catalog import Catalog

T = TypeVar("T")

_EXTENSION = "catalog_documents"


@dataclass(frozen=True)
class Tagged:
    """A document's bytes as served, and its ETag: a hash of those bytes, computed once.

    Attributes:
        body: the response body.
        mimetype: its media type.
        etag: the first 20 hex digits of the body's SHA-256.
    """

    body: bytes
    mimetype: str
    etag: str


def built(catalog: Catalog, key: Hashable, build: Callable[[], T]) -> T:
    """What `build` returns for this catalog and key: built on the first call, then kept."""
    per_catalog: WeakKeyDictionary[Catalog, dict[Hashable, object]] = current_app.extensions.setdefault(
        _EXTENSION, WeakKeyDictionary()
    )
    documents = per_catalog.setdefault(catalog, {})
    if key not in documents:
        documents[key] = build()
    return cast(T, documents[key])


def tagged_json(catalog: Catalog, key: Hashable, build: Callable[[], object]) -> Tagged:
    """A JSON document as the app writes it, with its ETag, built once (see `built`)."""

    def serve() -> Tagged:
        response = jsonify(build())
        body = response.get_data()
        return Tagged(body, response.mimetype or "application/json", hashlib.sha256(body).hexdigest()[:20])

    return built(catalog, key, serve)
