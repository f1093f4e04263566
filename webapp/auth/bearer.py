"""`Authorization: Bearer <token>` on the JSON API: the account a script's request acts as.

Only the JSON API's blueprints (`API_BLUEPRINTS`) and the audit exports (`TOKEN_DOWNLOADS`, the
bulk read the API's own paging points scripts to) read the header, in both sign-in modes; on every
other page it is ignored and the usual session or proxy rules apply, so a leaked token opens no page
and a page cannot be driven by one. An API request that presents a token is judged
by the token alone (a session cookie or proxy header beside it does not count): a token that is
unknown, revoked or expired, or whose account is disabled, is refused with 401 and `WWW-Authenticate`,
rather than the request falling back to being anonymous. Such requests need no CSRF token: a
browser never adds this header on its own, so another site cannot make one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from flask import Response, make_response, request
from sqlalchemy import or_, update
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from analytics.durations import as_utc
from webapp.auth import tokens
from webapp.auth.models import ApiToken, User
from webapp.auth.proxies import client_address
from webapp.extensions import db

log = logging.getLogger(__name__)

API_BLUEPRINTS = frozenset({"api", "tester_api", "audit_api"})
"""The blueprints that accept a token: the catalog API, the tester's API and the audit API."""

TOKEN_DOWNLOADS = frozenset({"audit.export"})
"""Endpoints outside those blueprints that accept a token: the audit log's CSV and NDJSON exports,
read-only downloads a script needs when it wants more than an API page holds."""

LAST_USED_EVERY = timedelta(minutes=1)
"""How stale `last_used_at` may be: a script polling every second must not write every second."""


def takes_token() -> bool:
    """Whether this request's endpoint reads a Bearer token (`API_BLUEPRINTS`, `TOKEN_DOWNLOADS`)."""
    return request.blueprint in API_BLUEPRINTS or request.endpoint in TOKEN_DOWNLOADS


def unauthorized(message: str, *, error: str | None = None) -> Unauthorized:
    """A 401 that names the Bearer scheme (RFC 6750), for an API call without a usable token;
    `error` is `invalid_token` when a token was presented and refused."""
    return Unauthorized(message, www_authenticate=_bearer_challenge(error))


def _bearer_challenge(error: str | None) -> WWWAuthenticate:
    return WWWAuthenticate("bearer", {"realm": "event-catalog", **({"error": error} if error else {})})


class TokenRefused(Exception):
    """A presented token that does not sign anyone in; the message says why, for the caller."""


def presented_token() -> str | None:
    """The token of an API request's Bearer header ("" when the header names none); None when
    the request has no Bearer header or is for an endpoint that takes none (`takes_token`)."""
    if not takes_token():
        return None
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def token_user(secret: str) -> User:
    """The account a token acts as, with its current role; notes when the token was used.

    Raises:
        TokenRefused: no token, an unknown, revoked or expired one, or a disabled account.
    """
    if not secret:
        raise TokenRefused("The Authorization header names no token: send `Authorization: Bearer <token>`.")
    record = tokens.find_by_secret(secret)
    if record is None:
        raise TokenRefused(
            "This API token is unknown: check that it was copied whole, or create one on the API tokens page."
        )
    if record.revoked_at is not None:
        raise TokenRefused(
            f"This API token ({record.prefix}…, “{record.name}”) was revoked on "
            f"{as_utc(record.revoked_at):%Y-%m-%d %H:%M} UTC: create a new one on the API tokens page."
        )
    if record.expired:
        raise TokenRefused(
            f"This API token ({record.prefix}…, “{record.name}”) expired on "
            f"{as_utc(record.expires_at):%Y-%m-%d %H:%M} UTC: create a new one on the API tokens page."
        )
    if not record.user.active:
        raise TokenRefused(
            f"The account {record.user.email} is disabled, so its API tokens are refused. "
            "Ask an admin to enable it."
        )
    _note_use(record)
    return record.user


def _note_use(record: ApiToken) -> None:
    """Set `last_used_at` when it is older than `LAST_USED_EVERY`: most requests write nothing.

    The condition is repeated in the UPDATE so that concurrent requests write it once.
    """
    now = datetime.now(UTC)
    due = now - LAST_USED_EVERY
    if record.last_used_at is not None and as_utc(record.last_used_at) >= due:
        return
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.id == record.id, or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < due))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def challenge_response(message: str, *, error: str | None = None) -> Response:
    """The API's JSON 401 with the Bearer challenge, on a download too: a script reads the same
    error from an export as from the API, rather than a download's text lines."""
    from webapp.errors.handlers import json_error

    response = make_response(json_error(401, message))
    response.www_authenticate = _bearer_challenge(error)
    return response


def refusal(refused: TokenRefused) -> Response:
    """The 401 for a refused token: the API's JSON error, with the Bearer challenge; logged, as
    someone may be trying tokens (the message names a token by its prefix, never whole)."""
    log.warning("refused %s %s from %s: %s", request.method, request.path, client_address(), refused)
    return challenge_response(str(refused), error="invalid_token")
