"""Who may reach which endpoint: every view declares a rule, and anything undeclared is refused.

The check is fail-closed. A `before_request` hook looks up the rule of the endpoint that is about to
run and refuses (403, logged as an error) any endpoint that has none, so a route added without a
decision about who may use it cannot be reached by anyone. Views declare with a decorator::

    @bp.get("/audit/")
    @requires(Role.VIEWER)
    def search(): ...

    @bp.post("/tester/send")
    @requires(Role.ENGINEER)
    @send_limit
    def send(): ...

    @bp.get("/healthz")
    @public
    def healthz(): ...

Views the project does not write (Flask's `static`) are declared with `declare(app, endpoint, rule)`.
`rules(app)` lists every declared rule; `tests/test_access.py` walks every URL rule against it.
Inside a view, `require(role)` refuses what depends on the request (a production destination)
and `allows(role)` decides what a page shows (personal data unmasked).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, abort, current_app, g, request
from flask.typing import ResponseReturnValue

from webapp.auth.roles import Role

log = logging.getLogger(__name__)

View = TypeVar("View", bound=Callable[..., Any])

_ATTRIBUTE = "access_rule"
_EXTENSION = "access_rules"


def requires(role: Role) -> Callable[[View], View]:
    """Let signed-in users whose role includes `role` reach the view."""

    def declare_on(view: View) -> View:
        setattr(view, _ATTRIBUTE, role)
        return view

    return declare_on


def public(view: View) -> View:
    """Let anyone reach the view, signed in or not (sign-in pages, health checks)."""
    setattr(view, _ATTRIBUTE, None)
    return view


def declare(app: Flask, endpoint: str, rule: Role | None) -> None:
    """Declare the rule of a view the project does not write; `None` means public."""
    app.extensions.setdefault(_EXTENSION, {})[endpoint] = rule


class UndeclaredEndpoint(LookupError):
    """An endpoint whose view declares no access rule."""


def rule_for(app: Flask, endpoint: str) -> Role | None:
    """The role an endpoint requires, or None when it is public.

    Raises:
        UndeclaredEndpoint: the endpoint has no rule, so it must not be served.
    """
    declared: dict[str, Role | None] = app.extensions.get(_EXTENSION, {})
    if endpoint in declared:
        return declared[endpoint]
    view = app.view_functions.get(endpoint)
    if view is None or not hasattr(view, _ATTRIBUTE):
        raise UndeclaredEndpoint(endpoint)
    rule: Role | None = getattr(view, _ATTRIBUTE)
    return rule


def rules(app: Flask) -> dict[str, Role | None]:
    """Every endpoint's rule (`None`: public); endpoints without one are left out."""
    found: dict[str, Role | None] = {}
    for endpoint in app.view_functions:
        try:
            found[endpoint] = rule_for(app, endpoint)
        except UndeclaredEndpoint:
            continue
    return found


def enforce() -> ResponseReturnValue | None:
    """`before_request`: let the request through, challenge an anonymous caller, or refuse it."""
    from webapp.auth.identity import challenge

    endpoint = request.endpoint
    if endpoint is None:
        # Routing failed: the 404/405 answer that follows is the same for everyone.
        return None
    try:
        required = rule_for(current_app, endpoint)
    except UndeclaredEndpoint:
        log.error(
            "refused %s %s: endpoint %s declares no access rule (add @requires(Role...) or @public)",
            request.method,
            request.path,
            endpoint,
        )
        abort(403, description="This page has no access rule yet, so it is closed to everyone.")
    if required is None:
        return None
    if g.get("user") is None:
        return challenge()
    require(required)
    return None


def allows(role: Role) -> bool:
    """Whether the signed-in user's role includes `role` (False when no one is signed in).

    For what a page shows rather than whether it opens, e.g. personal data unmasked for engineers.
    """
    user = g.get("user")
    return user is not None and bool(user.role.includes(role))


def require(role: Role) -> None:
    """Refuse (403, logged) unless the signed-in user's role includes `role`.

    For checks that depend on the request rather than the endpoint, e.g. an admin for a
    production destination: `if destination.production: require(Role.ADMIN)`.
    """
    if allows(role):
        return
    user = g.get("user")
    current = user.role if user is not None else "anonymous"
    log.warning(
        "refused %s %s to %s: role %s, needs %s",
        request.method,
        request.path,
        user.name if user is not None else "anonymous",
        current,
        role,
    )
    abort(
        403, description=f"Your role ({current}) cannot do this; it needs {role}. An admin can change roles."
    )
