"""`/account/…`: each signed-in person's own settings: their password and their API tokens (shown
once when created, and revoked here)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_limiter import RateLimitExceeded

from analytics.durations import as_utc
from webapp.account.forms import NewTokenForm
from webapp.actor import current_actor
from webapp.auth import accounts, tokens
from webapp.auth.forms import ChangePasswordForm
from webapp.auth.identity import accounts_mode_only, sign_in
from webapp.auth.models import ApiToken
from webapp.auth.policy import requires
from webapp.auth.roles import Role
from webapp.extensions import db
from webapp.limits import current_password_limit, explain
from webapp.lookups import get_row_or_404

bp = Blueprint("account", __name__)


def _page(
    form: NewTokenForm | None = None, created: tokens.NewToken | None = None, status: int = 200
) -> ResponseReturnValue:
    listed = db.session.scalars(tokens.tokens_query(g.user)).all()
    body = render_template(
        "account/tokens.html",
        form=form or NewTokenForm(formdata=None),
        tokens=listed,
        created=created,
        api_base=request.host_url.rstrip("/") + "/api",
    )
    return body, status


@bp.get("/tokens")
@requires(Role.VIEWER)
def tokens_page() -> ResponseReturnValue:
    """Your API tokens and a form to create one."""
    return _page()


@bp.post("/tokens")
@requires(Role.VIEWER)
def create_token() -> ResponseReturnValue:
    """Create a token and show it, this once.

    The page answers the POST itself rather than redirecting: the token would otherwise have to
    wait for the next request in the session cookie or the URL, and must not be kept anywhere. A
    reload posts again and meets the duplicate-name check instead of making a second token.
    """
    form = NewTokenForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        created = tokens.create_token(
            g.user, form.name.data, actor=current_actor(), lifetime_days=form.lifetime_days()
        )
    except tokens.TokenError as exc:
        form.name.errors.append(exc.sentence())
        return _page(form, status=409)
    return _page(created=created, status=201)


@bp.post("/tokens/<int:token_id>/revoke")
@requires(Role.VIEWER)
def revoke_token(token_id: int) -> ResponseReturnValue:
    """Revoke one of your tokens; requests that present it are refused from now on.

    One already revoked (in another tab, or by an admin's command) is said on the list the answer
    goes back to, as a preset already deleted is: a second Revoke said nothing at all.
    """
    record = get_row_or_404(ApiToken, token_id)
    if record.user_id != g.user.id:
        # Someone else's token: as if it did not exist, so ids reveal nothing.
        abort(404)
    if tokens.revoke_token(record, actor=current_actor()):
        flash(f"Revoked the token “{record.name}” ({record.prefix}…).", "info")
    elif record.revoked_at is not None:
        when = as_utc(record.revoked_at).strftime("%Y-%m-%d %H:%M")
        flash(f"The token “{record.name}” ({record.prefix}…) was already revoked, on {when} UTC.", "info")
    return redirect(url_for(".tokens_page"), 303)


def _password_page(
    form: ChangePasswordForm, status: int = 200, problem: str | None = None, retry_after: int | None = None
) -> ResponseReturnValue:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return render_template("account/password.html", form=form, problem=problem), status, headers


@bp.route("/password", methods=["GET", "POST"])
@requires(Role.VIEWER)
@current_password_limit
def password_page() -> ResponseReturnValue:
    """Change your own password: the current one first, so a session left open cannot change it.

    This browser stays signed in; every other session of the account ends on its next request.
    """
    accounts_mode_only()
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _password_page(form, status=400 if request.method == "POST" else 200)
    user = g.user
    if not accounts.has_password(user, form.current.data):
        g.login_failed = True
        form.current.errors.append("This is not your current password.")
        accounts.audit(
            "Password Change Refused",
            actor=current_actor(),
            properties={"email": user.email, "reason": "wrong current password"},
        )
        return _password_page(form, status=400)
    if form.password.data == form.current.data:
        form.password.errors.append("This is your current password: choose a new one.")
        return _password_page(form, status=400)
    accounts.set_password(user.email, form.password.data, actor=current_actor(), via="account page")
    sign_in(session, user)
    flash("Your password is changed. Your other sessions are signed out.", "info")
    return redirect(url_for(".password_page"), 303)


@bp.errorhandler(RateLimitExceeded)
def password_throttled(error: RateLimitExceeded) -> ResponseReturnValue:
    """Too many wrong passwords for the account (here or on the sign-in form): the form again,
    saying when to come back (429)."""
    retry_after = explain(error)
    accounts.audit(
        "Password Change Refused",
        actor=current_actor(),
        properties={"email": g.user.email, "reason": "throttled"},
    )
    form = ChangePasswordForm(formdata=None)
    return _password_page(form, status=429, problem=error.description, retry_after=retry_after)
