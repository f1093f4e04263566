"""`/account/tokens`: each signed-in person's API tokens, to create (shown once) and revoke."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from webapp.account.forms import NewTokenForm
from webapp.actor import current_actor
from webapp.auth import tokens
from webapp.auth.models import ApiToken
from webapp.auth.policy import requires
from webapp.auth.roles import Role
from webapp.extensions import db

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
        created = tokens.create_token(g.user, form.name.data, actor=current_actor())
    except tokens.TokenError as exc:
        form.name.errors.append(exc.sentence())
        return _page(form, status=409)
    return _page(created=created, status=201)


@bp.post("/tokens/<int:token_id>/revoke")
@requires(Role.VIEWER)
def revoke_token(token_id: int) -> ResponseReturnValue:
    """Revoke one of your tokens; requests that present it are refused from now on."""
    record = db.get_or_404(ApiToken, token_id)
    if record.user_id != g.user.id:
        # Someone else's token: as if it did not exist, so ids reveal nothing.
        abort(404)
    if tokens.revoke_token(record, actor=current_actor()):
        flash(f"Revoked the token “{record.name}” ({record.prefix}…).", "info")
    return redirect(url_for(".tokens_page"), 303)
