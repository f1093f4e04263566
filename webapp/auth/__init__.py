"""Access: who is signed in (accounts or a trusted sign-in proxy), their role, and what it allows.

`init_app` installs, in this order, the hook that sets `g.user` and the fail-closed hook that
refuses any request the endpoint's rule does not allow (`webapp.auth.policy`).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g


def init_app(app: Flask) -> None:
    """Load the user and enforce every endpoint's rule on each request; register the pages."""
    from webapp.auth import models  # noqa: F401  (the users table joins the shared metadata)
    from webapp.auth.identity import load_user
    from webapp.auth.policy import allows, declare, enforce
    from webapp.auth.roles import Role
    from webapp.auth.routes import bp

    app.before_request(load_user)
    app.before_request(enforce)
    # Flask's own view: stylesheets and htmx are needed by the sign-in page itself.
    declare(app, "static", None)
    app.register_blueprint(bp)

    @app.context_processor
    def access() -> dict[str, Any]:
        """Templates see the signed-in user, the sign-in mode, and `allows('engineer')`: whether
        the user's role includes another, so that a page offers only what the user may do."""
        return {
            "current_user": g.get("user"),
            "auth_mode": app.config["AUTH_MODE"],
            "allows": lambda role: allows(Role(role)),
        }

    @app.template_global()
    def takes_focus() -> bool:
        """Whether the caller is the first of this page to ask: the forms' first field with an error
        takes the focus (`autofocus`), so that the keyboard and a screen reader land on what to fix."""
        if g.get("focus_taken"):
            return False
        g.focus_taken = True
        return True
