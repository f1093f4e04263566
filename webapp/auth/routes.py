"""Sign-in, sign-out, the first-run admin set-up, and the admin's users page."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_limiter import RateLimitExceeded
from flask_wtf import FlaskForm

from webapp.actor import current_actor
from webapp.auth import accounts, resets
from webapp.auth.forms import AddUserForm, LoginForm, ResetPasswordForm, RoleForm, SetupForm, setup_code
from webapp.auth.identity import PROXY, accounts_mode_only, sign_in, sign_out
from webapp.auth.models import User
from webapp.auth.policy import public, requires
from webapp.auth.proxies import client_address
from webapp.auth.redirects import safe_next
from webapp.auth.roles import Role
from webapp.extensions import db
from webapp.htmx import shown_status
from webapp.limits import explain, login_limit
from webapp.lookups import get_row_or_404

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
@public
@login_limit
def login() -> ResponseReturnValue:
    """Sign in with email and password; failures are throttled and audited."""
    accounts_mode_only()
    if not accounts.has_users():
        return redirect(url_for(".setup", next=request.args.get("next")))
    if g.user is not None and request.method == "GET":
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm(next=request.args.get("next", ""))
    if not form.validate_on_submit():
        # Where the person was going, so the page says why it asks (only a path on this site).
        continue_to = safe_next(form.next.data, default="")
        status = 400 if request.method == "POST" else 200
        return render_template("auth/login.html", form=form, continue_to=continue_to), status
    user, reason = accounts.authenticate(form.email.data, form.password.data)
    if user is None:
        g.login_failed = True
        accounts.audit(
            "Login Failed",
            actor=current_actor(),
            properties={"email": form.email.data, "address": client_address(), "reason": reason},
        )
        # The typed email is the visitor's text: %r keeps its control characters out of a followed log.
        log.warning("sign-in failed for %r from %s: %s", form.email.data, client_address(), reason)
        problem = "This account is disabled." if reason == "account disabled" else "Wrong email or password."
        return render_template("auth/login.html", form=form, problem=problem), 401
    sign_in(session, user)
    g.user = user
    log.info("%s signed in from %s", user.email, client_address())
    return redirect(safe_next(form.next.data), 303)


@bp.errorhandler(RateLimitExceeded)
def sign_in_throttled(error: RateLimitExceeded) -> ResponseReturnValue:
    """A throttled sign-in: the form again with the reason above it (429, `Retry-After`), and the
    attempt in the audit log like any other failed one, so a reviewer sees the whole burst."""
    retry_after = explain(error)
    form = LoginForm(next=request.args.get("next", ""))
    accounts.audit(
        "Login Failed",
        actor=current_actor(),
        properties={"email": form.email.data, "address": client_address(), "reason": "throttled"},
    )
    page = render_template("auth/login.html", form=form, problem=error.description)
    return page, 429, {"Retry-After": str(retry_after)}


@bp.post("/logout")
@public
def logout() -> ResponseReturnValue:
    """End the session (public, so an expired session can still press the button)."""
    accounts_mode_only()
    sign_out()
    flash("You have signed out.", "info")
    return redirect(url_for(".login"), 303)


_SETUP_CODE_LOGGED = "event_catalog.setup_code_logged"


@bp.route("/setup", methods=["GET", "POST"])
@public
def setup() -> ResponseReturnValue:
    """First run: create the admin account, then sign in as it. Gone once any account exists."""
    accounts_mode_only()
    if accounts.has_users():
        return redirect(url_for(".login", next=request.args.get("next")))
    production = current_app.config["APP_ENV"] == "production"
    form = SetupForm(next=request.args.get("next", ""))
    if not production:
        del form.setup_code
    elif request.method == "GET" and not current_app.extensions.get(_SETUP_CODE_LOGGED):
        # Once per process: any anonymous visitor can open this page, and each visit added a line.
        current_app.extensions[_SETUP_CODE_LOGGED] = True
        log.warning(
            "first-run set-up: the set-up code is %s (or create the admin with "
            "`event-catalog users add EMAIL --role admin`)",
            setup_code(str(current_app.config["SECRET_KEY"])),
        )
    if not form.validate_on_submit():
        return render_template("auth/setup.html", form=form), 400 if request.method == "POST" else 200
    try:
        # The first admin creates their own account: they are its actor, not an anonymous visitor.
        email = accounts.normalise_email(form.email.data)
        user = accounts.add_user(
            email, form.password.data, Role.ADMIN, actor=email, display_name=form.display_name.data
        )
    except accounts.AccountError as exc:
        form.email.errors.append(f"{exc}.")
        return render_template("auth/setup.html", form=form), 409
    accounts.mark_signed_in(user)
    sign_in(session, user)
    flash("Welcome. You are the admin; add the others on the Users page.", "info")
    return redirect(safe_next(form.next.data), 303)


def _users_page(
    form: FlaskForm | None = None,
    row_errors: dict[int, str] | None = None,
    status: int = 200,
    reset_links: dict[int, str] | None = None,
) -> ResponseReturnValue:
    proxy = current_app.config["AUTH_MODE"] == PROXY
    form = form or _add_user_form()
    users = db.session.scalars(accounts.users_query()).all()
    body = render_template(
        "auth/users.html",
        users=users,
        form=form,
        row_errors=row_errors or {},
        reset_links=reset_links or {},
        roles=list(Role),
        proxy=proxy,
    )
    return body, shown_status(status)


def _add_user_form() -> AddUserForm:
    form = AddUserForm()
    if current_app.config["AUTH_MODE"] == PROXY:
        # Behind the proxy, people sign in there; the account only fixes their role in advance.
        del form.password
        del form.confirm
    return form


@bp.get("/users/")
@requires(Role.ADMIN)
def users() -> ResponseReturnValue:
    """Every account with its role and state, and a form to add one."""
    return _users_page()


@bp.post("/users/")
@requires(Role.ADMIN)
def add_user() -> ResponseReturnValue:
    """Add an account."""
    form = _add_user_form()
    if not form.validate_on_submit():
        return _users_page(form, status=400)
    password = form.password.data if "password" in form else None
    try:
        user = accounts.add_user(
            form.email.data,
            password,
            Role(form.role.data),
            actor=current_actor(),
            display_name=form.display_name.data,
        )
    except accounts.AccountError as exc:
        form.email.errors.append(f"{exc}.")
        return _users_page(form, status=409)
    flash(f"Added {user.email} as {user.role}.", "info")
    return redirect(url_for(".users"), 303)


def _change_account(user_id: int, change: Callable[[str], object], done: str) -> ResponseReturnValue:
    """Apply one change to an account: a refusal shows in its row (409), success is flashed (303)."""
    user = get_row_or_404(User, user_id)
    try:
        change(user.email)
    except accounts.AccountError as exc:
        return _users_page(row_errors={user.id: f"{exc}."}, status=409)
    flash(done.format(email=user.email), "info")
    return redirect(url_for(".users"), 303)


@bp.get("/users/<int:user_id>/<any(role, disable, enable, 'reset-link'):action>")
@requires(Role.ADMIN)
def account_change_address(user_id: int, action: str) -> ResponseReturnValue:  # noqa: ARG001
    """The address a refused change or a new reset link leaves in the address bar (the page answers
    the POST itself): opened again, from a bookmark or with Enter, it is the users page, not a 405."""
    return redirect(url_for(".users"), 303)


@bp.post("/users/<int:user_id>/role")
@requires(Role.ADMIN)
def change_role(user_id: int) -> ResponseReturnValue:
    """Give an account another role; it applies from its next request."""
    get_row_or_404(User, user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        return _users_page(row_errors={user_id: "Choose viewer, engineer or admin."}, status=400)
    role = Role(form.role.data)
    return _change_account(
        user_id,
        lambda email: accounts.set_role(email, role, actor=current_actor()),
        f"{{email}} is now {role}.",
    )


@bp.post("/users/<int:user_id>/disable")
@requires(Role.ADMIN)
def disable(user_id: int) -> ResponseReturnValue:
    """Stop an account from signing in; its open sessions end."""
    return _change_account(
        user_id, lambda email: accounts.disable_user(email, actor=current_actor()), "{email} is disabled."
    )


@bp.post("/users/<int:user_id>/enable")
@requires(Role.ADMIN)
def enable(user_id: int) -> ResponseReturnValue:
    """Let a disabled account sign in again."""
    return _change_account(
        user_id,
        lambda email: accounts.enable_user(email, actor=current_actor()),
        "{email} may sign in again.",
    )


@bp.post("/users/<int:user_id>/reset-link")
@requires(Role.ADMIN)
def reset_link(user_id: int) -> ResponseReturnValue:
    """Make a one-time link for the account to choose a new password, shown in its row this once.

    The page answers the POST itself, like a new API token: the link must not wait in the session
    or a URL. Nothing changes until the link is used; the old password works until then.
    """
    accounts_mode_only()
    user = get_row_or_404(User, user_id)
    if not user.active:
        problem = f"{user.email} is disabled: enable the account before making a reset link."
        return _users_page(row_errors={user.id: problem}, status=409)
    link = url_for(".reset_password", token=resets.reset_token(user), _external=True)
    accounts.audit("Password Reset Link Created", actor=current_actor(), properties={"email": user.email})
    return _users_page(reset_links={user.id: link}, status=201)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@public
def reset_password(token: str) -> ResponseReturnValue:
    """Choose a new password with a reset link from an admin, then continue signed in."""
    accounts_mode_only()
    try:
        user = resets.user_for_reset(token)
    except resets.ResetLinkError as exc:
        return render_template("auth/reset.html", problem=str(exc)), 400
    form = ResetPasswordForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("auth/reset.html", form=form, account=user, token=token), status
    accounts.set_password(user.email, form.password.data, actor=user.email, via="reset link")
    accounts.mark_signed_in(user)
    sign_in(session, user)
    flash("Your password is set, and you are signed in.", "info")
    return redirect(url_for("catalog.index"), 303)
