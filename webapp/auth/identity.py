"""Who is making this request: `g.user`, from the session (built-in accounts) or the sign-in proxy,
or on the JSON API from a personal API token (`webapp.auth.bearer`) in either mode.

Two modes, chosen by `AUTH_MODE`:

- `accounts` (the default): people sign in on `/login`; the session cookie carries the account id,
  when they signed in (sessions end `SESSION_LIFETIME` later, however active), a stamp of their
  password hash (changing the password ends every other session) and a random session id, which
  signing out records as ended (`EndedSession`), so that no copy of the cookie signs anyone in again.
- `proxy`: an SSO proxy in front (oauth2-proxy, an ingress) authenticates people and names them in
  `PROXY_USER_HEADER`. The header is believed only from `TRUSTED_PROXIES`; unknown emails get an
  account with `PROXY_DEFAULT_ROLE` on their first request.

Every request re-reads the account, so a role change or a disabled account applies at once.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Response, abort, current_app, flash, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask.typing import ResponseReturnValue
from sqlalchemy import delete
from werkzeug.exceptions import Forbidden, Unauthorized

from webapp.auth import accounts, bearer
from webapp.auth.models import EndedSession, User
from webapp.auth.proxies import from_trusted_proxy
from webapp.auth.redirects import safe_next
from webapp.extensions import db
from webapp.htmx import wants_fragment

log = logging.getLogger(__name__)

_USER_ID = "user_id"
_SIGNED_IN_AT = "signed_in_at"
_STAMP = "password_stamp"
_SESSION_ID = "session_id"

PROXY = "proxy"


def password_stamp(user: User) -> str:
    """A short digest of the password hash: sessions carry it, so a new password ends old sessions."""
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def sign_in(target: SessionMixin, user: User) -> None:
    """Start a fresh session for `user` (a new session, so a planted one cannot be reused)."""
    target.clear()
    target[_USER_ID] = user.id
    target[_SIGNED_IN_AT] = time.time()
    target[_STAMP] = password_stamp(user)
    target[_SESSION_ID] = secrets.token_urlsafe(16)
    target.permanent = True


def accounts_mode_only() -> None:
    """Behind the sign-in proxy, pages about passwords and signing in do not exist (404)."""
    if current_app.config["AUTH_MODE"] == PROXY:
        abort(404)


def sign_out() -> None:
    """End the session, for every copy of its cookie: its id is recorded as ended until it would
    have expired (rows past that are deleted on the way)."""
    session_id = session.get(_SESSION_ID)
    if isinstance(session_id, str):
        now = datetime.now(UTC)
        lifetime = current_app.config["PERMANENT_SESSION_LIFETIME"]
        signed_in_at = datetime.fromtimestamp(float(session.get(_SIGNED_IN_AT, 0)), UTC)
        db.session.execute(delete(EndedSession).where(EndedSession.expires_at < now))
        db.session.merge(EndedSession(session_id=session_id, expires_at=max(signed_in_at + lifetime, now)))
        db.session.commit()
    session.clear()


def load_user() -> Response | None:
    """`before_request`: set `g.user` to the signed-in account, or None.

    Static files are public and cached; they are served without looking anyone up. An API
    request with a Bearer token acts as the token's account, or is answered 401 here.
    """
    g.user = None
    if request.endpoint == "static":
        return None
    secret = bearer.presented_token()
    if secret is not None:
        try:
            g.user = bearer.token_user(secret)
        except bearer.TokenRefused as refused:
            return bearer.refusal(refused)
        return None
    g.user = _proxy_user() if current_app.config["AUTH_MODE"] == PROXY else _session_user()
    return None


SESSION_EXPIRED = "Your session has expired. Sign in again."
SESSION_ENDED = (
    "Your session has ended (you were signed out, your password changed, or the dashboard was upgraded "
    "or its key changed). Sign in again."
)
"""Said on the sign-in page to someone whose session ended before its time, so that an upgrade or a
`SECRET_KEY` rotation, which signs everyone out, does not look like an attack."""


def _session_user() -> User | None:
    user_id = session.get(_USER_ID)
    if user_id is None:
        if _signed_in_with_an_unreadable_cookie():
            flash(SESSION_ENDED, "info")
        return None
    lifetime = current_app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
    if time.time() - float(session.get(_SIGNED_IN_AT, 0)) > lifetime:
        session.clear()
        flash(SESSION_EXPIRED, "info")
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active or session.get(_STAMP) != password_stamp(user) or _ended():
        session.clear()
        flash(SESSION_ENDED, "info")
        return None
    return user


def _signed_in_with_an_unreadable_cookie() -> bool:
    """Whether the request's session cookie, which Flask could not read, named an account.

    Flask drops a cookie whose signature fails (signed with a former `SECRET_KEY`, or altered)
    without a word. Its content is read unverified here only to choose what the sign-in page says.
    """
    cookie = request.cookies.get(current_app.config["SESSION_COOKIE_NAME"])
    interface = current_app.session_interface
    if not cookie or not isinstance(interface, SecureCookieSessionInterface):
        return False
    serializer = interface.get_signing_serializer(current_app)
    if serializer is None:
        return False
    readable, content = serializer.loads_unsafe(cookie)
    return not readable and isinstance(content, dict) and _USER_ID in content


def _ended() -> bool:
    """Whether this session was signed out (a copy of its cookie), or predates session ids."""
    session_id = session.get(_SESSION_ID)
    return not isinstance(session_id, str) or db.session.get(EndedSession, session_id) is not None


def _proxy_user() -> User | None:
    header = current_app.config["PROXY_USER_HEADER"]
    raw = request.headers.get(header)
    if raw is None:
        return None
    if not from_trusted_proxy():
        log.warning("ignored %s from %s, which is not in TRUSTED_PROXIES", header, request.remote_addr)
        return None
    try:
        email = accounts.normalise_email(raw)
    except accounts.AccountError:
        log.warning("ignored %s: %r is not an email address", header, raw)
        return None
    user = accounts.find_user(email) or accounts.provision(
        email, current_app.config["PROXY_DEFAULT_ROLE"], actor=f"proxy@{request.remote_addr}"
    )
    if not user.active:
        g.disabled_account = user.email
        return None
    return user


def _return_path() -> str | None:
    """Where to come back to after signing in: this page, or for htmx the page it was called from.

    None after a form post: its URL answers only POST, and the form's data is gone anyway.
    """
    if wants_fragment():
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        if current.netloc != request.host:
            return "/"
        return safe_next(current.path + (f"?{current.query}" if current.query else ""))
    if request.method not in ("GET", "HEAD"):
        return None
    return safe_next(request.full_path.removesuffix("?"))


SIGNED_OUT = (
    "You are signed out (in another tab or window, or the sign-in ended), so that form was not sent: "
    "sign in again."
)


def signed_out_answer() -> ResponseReturnValue | None:
    """The answer to a form refused for its CSRF token when no one is signed in any more, or None.

    The CSRF check runs before `load_user`: a tab left open after its person signed out in another
    one posts the token of a session that is gone, and was told that the form had expired or came
    from another site. A protected page's form is answered as any signed-out request is (`challenge`:
    the sign-in page, for htmx through `HX-Redirect`), saying why. None when someone is signed in (it
    is then set as `g.user`, so that the refusal's page keeps the navigation), for a public page, a
    JSON client or the sign-in proxy (whose people do not sign out here).
    """
    from webapp.auth.policy import UndeclaredEndpoint, rule_for
    from webapp.errors.handlers import wants_json

    if current_app.config["AUTH_MODE"] == PROXY or wants_json() or bearer.presented_token() is not None:
        return None
    try:
        if rule_for(current_app, request.endpoint or "") is None:
            return None
    except UndeclaredEndpoint:
        return None
    # An ended sign-in (SESSION_LIFETIME) says so itself, in `_session_user`.
    cleared = session.get(_USER_ID) is None
    g.user = _session_user()
    if g.user is not None:
        return None
    if cleared:
        flash(SIGNED_OUT, "info")
    return challenge()


def challenge() -> ResponseReturnValue:
    """The answer to an anonymous request for a protected endpoint.

    Pages redirect to the sign-in page (to the first-run set-up while there is no account), htmx
    calls get 401 with `HX-Redirect` so the whole page navigates, JSON clients get 401: the API's
    JSON error with the Bearer challenge where a token would be taken (the API, the exports).
    """
    from webapp.errors.handlers import wants_json

    proxy = current_app.config["AUTH_MODE"] == PROXY
    if proxy and (disabled := g.get("disabled_account")):
        raise Forbidden(f"The account {disabled} is disabled. Ask an admin to enable it.")
    if request.blueprint in bearer.API_BLUEPRINTS or (bearer.takes_token() and wants_json()):
        # Scripts authenticate with a token: the answer says how (RFC 6750's challenge). An export
        # opened by a browser link still goes to the sign-in page below; a script asking for JSON
        # gets this rather than a sign-in page it would save as the download.
        return bearer.challenge_response(
            "Send an API token, `Authorization: Bearer <token>` (create one on the API tokens page, "
            "/account/tokens), or call from a signed-in browser session."
        )
    if proxy:
        raise Unauthorized(
            "Sign-in happens at your organisation's sign-in proxy, and this request did not come "
            "through it. Open the dashboard by its usual address."
        )
    if wants_json():
        raise Unauthorized("Sign in to the dashboard first.")
    endpoint = "auth.login" if accounts.has_users() else "auth.setup"
    target = url_for(endpoint, next=_return_path())
    if wants_fragment():
        return Response(status=401, headers={"HX-Redirect": target})
    return redirect(target)
