"""Fingerprints of what a tester send asked for, so a repeated token is told from a reused one.

A fingerprint is keyed, because the values it covers include personal data that the audit log keeps
masked: a plain hash of a guessable email would give it away. The key must outlive the sends it
compares: a retried CI step may come after a deploy. It is derived from `AUDIT_CHAIN_KEY`, which is
rotated by listing the former key in `AUDIT_CHAIN_KEYS_RETIRED`, so a fingerprint made under a
retired key is still recognised. `SECRET_KEY`, which keyed them before, signs everyone out when it
changes and has no such list: a retry after its rotation was refused as "a different message".
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

from flask import current_app

from analytics.settings import RETIRED_CHAIN_KEYS
from webapp.tester.destinations import Destination

_PURPOSE = b"event-catalog tester request digest"
"""Derives this use's key from the chain key, so that neither use's values can stand for the other's."""


def request_digest(message: dict[str, Any], destination: Destination) -> str:
    """What a send asks for, fingerprinted with the current key: the call, its user, its properties
    or traits, where to.

    Not the whole message: its id, times and context differ between two submits of one form.
    """
    return _digest(_derived(str(current_app.config["AUDIT_CHAIN_KEY"])), message, destination)


def asks_the_same(stored: str, message: dict[str, Any], destination: Destination) -> bool:
    """Whether `stored`, a send's fingerprint, is this request's under the current chain key, a
    retired one, or `SECRET_KEY`, which keyed the fingerprints of sends made before this release."""
    return any(hmac.compare_digest(stored, _digest(key, message, destination)) for key in _keys())


def _keys() -> Iterator[bytes]:
    config = current_app.config
    for chain_key in (config["AUDIT_CHAIN_KEY"], *config[RETIRED_CHAIN_KEYS]):
        yield _derived(str(chain_key))
    yield str(config["SECRET_KEY"]).encode()


def _derived(chain_key: str) -> bytes:
    return hmac.new(chain_key.encode(), _PURPOSE, hashlib.sha256).digest()


def _digest(key: bytes, message: dict[str, Any], destination: Destination) -> str:
    asked = {name: message.get(name) for name in ("type", "event", "userId", "properties", "traits")}
    canonical = json.dumps({**asked, "destination": destination.name}, sort_keys=True, default=str)
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()
