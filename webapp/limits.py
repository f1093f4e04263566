"""Rate limits on sign-in and the tester, per person and per address, answered with a clear 429.

Flask-Limiter counts; its storage is in memory by default (one count per worker process) and
`RATELIMIT_STORAGE_URI` (e.g. `redis://redis:6379`) shares the counts between workers and replicas.
Three limits are reused by the routes that need them:

- `login_limit`: failed sign-ins, per account and per client address (`LOGIN_FAILURES_PER_*`);
  only failures count, and once the limit is reached even the right password waits.
- `current_password_limit`: wrong current passwords when changing one, counted with the account's
  failed sign-ins (`LOGIN_FAILURES_PER_ACCOUNT`): one budget for both forms.
- `send_limit`: test sends, per signed-in person and per address (`TESTER_LIMIT_PER_*`); apply
  it under `@requires(...)` on the tester's send route. Only requests that sent something count
  (`webapp.tester.sending.send` calls `count_as_sent`), so a refused form or a dry run costs
  nothing, just as only failed sign-ins count towards the sign-in limits; a dry run and a repeat of
  a token already sent with are answered even past the limit.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, g, make_response, request
from flask_limiter import Limiter, RateLimitExceeded
from sqlalchemy import select

from analytics.storable_text import unstorable_in
from analytics.strict_json import load_json
from analytics.wording import counted
from webapp.actor import current_actor
from webapp.auth.accounts import fold_email
from webapp.auth.proxies import client_address
from webapp.extensions import db
from webapp.tester.forms import MAX_TOKEN_LENGTH
from webapp.tester.models import TesterSend

log = logging.getLogger(__name__)

View = TypeVar("View", bound=Callable[..., Any])

# The sliding-window counter does not let a burst straddle two fixed windows (twice the limit),
# and every storage Flask-Limiter supports implements it.
limiter = Limiter(key_func=client_address, strategy="sliding-window-counter")


def _submitted_account() -> str:
    return "account:" + fold_email(request.form.get("email") or "")


def _person() -> str:
    user = g.get("user")
    return f"user:{user.id}" if user is not None else f"address:{client_address()}"


def _login_failed(_response: Response) -> bool:
    return bool(g.get("login_failed"))


def count_as_sent() -> None:
    """Make this request count towards the send limits: call it once a message was handed over."""
    g.message_sent = True


def _message_sent(_response: Response) -> bool:
    return bool(g.get("message_sent"))


def _sends_nothing() -> bool:
    """Whether this send request cannot hand a message over: a dry run, or a repeat of a token this
    person already sent with (answered with that send's result). Such requests never count, and are
    answered even once the limit is reached: a script learns what its first send did, and a dry run
    checks a message, whatever the budget. Worked out once per request (both limits ask)."""
    if "sends_nothing" not in g:
        g.sends_nothing = _is_dry_run_or_repeat()
    return bool(g.sends_nothing)


def _could_have_been_sent_with(token: object) -> bool:
    """Whether a send could have stored this token: no other is looked for, since the database may
    not even take it in a query (a surrogate, which UTF-8 cannot encode; on PostgreSQL a NUL)."""
    return isinstance(token, str) and 1 <= len(token) <= MAX_TOKEN_LENGTH and unstorable_in(token) is None


def _is_dry_run_or_repeat() -> bool:
    if request.is_json:
        try:
            body = load_json(request.get_data())
        except ValueError:
            return False  # the view answers 400
        if not isinstance(body, dict):
            return False
        if body.get("dry_run") is True:
            return True
        token = body.get("token")
    else:
        token = request.form.get("token")
    if not _could_have_been_sent_with(token):
        return False  # the view refuses it
    claim = db.session.scalar(select(TesterSend.actor).where(TesterSend.form_token == token))
    return claim is not None and claim == current_actor()


def _limit(
    setting: str, key_func: Callable[[], str], message: str, *, shared: bool = False, **options: Any
) -> Any:
    """A limit on POSTs whose value is read from `setting` at request time.

    `shared`: one count for every view it decorates (under the setting's name), rather than one per view.
    """

    def value() -> str:
        return str(current_app.config[setting])

    if shared:
        return limiter.shared_limit(
            value, setting.lower(), key_func=key_func, methods=["POST"], error_message=message, **options
        )
    return limiter.limit(
        value, key_func=key_func, methods=["POST"], scope=setting.lower(), error_message=message, **options
    )


_login_per_account = _limit(
    "LOGIN_FAILURES_PER_ACCOUNT",
    _submitted_account,
    "Too many failed sign-ins for this account.",
    shared=True,
    deduct_when=_login_failed,
)
_login_per_address = _limit(
    "LOGIN_FAILURES_PER_ADDRESS",
    client_address,
    "Too many failed sign-ins from your address.",
    deduct_when=_login_failed,
)


def _signed_in_account() -> str:
    """The signed-in person's account, keyed as a sign-in names it: one budget of wrong passwords
    for the sign-in form and the password page (a guesser gets one allowance, not one per form)."""
    user = g.get("user")
    return "account:" + (fold_email(user.email) if user is not None else "")


_current_password_per_account = _limit(
    "LOGIN_FAILURES_PER_ACCOUNT",
    _signed_in_account,
    "Too many wrong passwords for this account.",
    shared=True,
    deduct_when=_login_failed,
)
_send_per_person = _limit(
    "TESTER_LIMIT_PER_PERSON",
    _person,
    "You have sent too many test events.",
    deduct_when=_message_sent,
    exempt_when=_sends_nothing,
)
_send_per_address = _limit(
    "TESTER_LIMIT_PER_ADDRESS",
    client_address,
    "Too many test events were sent from your address.",
    deduct_when=_message_sent,
    exempt_when=_sends_nothing,
)


def login_limit(view: View) -> View:
    """Throttle a sign-in view after repeated failures (the view sets `g.login_failed`)."""
    return cast(View, _login_per_account(_login_per_address(view)))


def current_password_limit(view: View) -> View:
    """Throttle a view that checks a signed-in person's current password, as sign-in is throttled:
    a session left open on someone's laptop must not become a way to guess their password."""
    return cast(View, _current_password_per_account(view))


def send_limit(view: View) -> View:
    """Limit a sending view's POSTs per person and per address."""
    return cast(View, _send_per_person(_send_per_address(view)))


def _wait(seconds: int) -> str:
    if seconds < 90:
        return counted(seconds, "second")
    return counted(math.ceil(seconds / 60), "minute")


def explain(error: RateLimitExceeded) -> int:
    """Complete a refusal's description with when to come back (logged); returns those seconds.

    Never longer than the limit's window: the sliding window's reset time is rounded up to a whole
    second and read a moment before `time.time()`, so it could say 61 seconds for a minute's limit.
    """
    window = error.limit.limit.get_expiry()
    current = limiter.current_limit
    until_reset = math.ceil(current.reset_at - time.time()) if current is not None else window
    retry_after = min(window, max(1, until_reset))
    error.description = f"{error.description} Try again in {_wait(retry_after)}."
    log.warning("rate limit %s reached: %s %s", error.limit.limit, request.method, request.path)
    return retry_after


def too_many_requests(error: RateLimitExceeded) -> Response:
    """A 429 page or JSON that says when to come back, with `Retry-After`."""
    from webapp.errors.handlers import error_response

    retry_after = explain(error)
    response = make_response(error_response(error))
    response.headers["Retry-After"] = str(retry_after)
    return response


def init_app(app: Flask) -> None:
    """Bind the limiter; its `before_request` check runs after the access check (registered first).

    Raises:
        ConfigurationError: the storage's client library is missing (`redis://` needs `redis`).
    """
    from limits.errors import ConfigurationError as StorageError

    from webapp.config import ConfigurationError

    try:
        limiter.init_app(app)
    except StorageError as exc:
        raise ConfigurationError([f"RATELIMIT_STORAGE_URI: {exc}"]) from exc
    app.register_error_handler(RateLimitExceeded, too_many_requests)
