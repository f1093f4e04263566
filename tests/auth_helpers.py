"""Signing in and submitting forms with a test client as a browser would, and reading the actions
the audit log recorded: shared by the account tests."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from analytics.audit import AuditEntry
from webapp.auth.roles import Role
from webapp.extensions import db


def token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token every page carries for htmx (and its forms)."""
    page = client.get(path, follow_redirects=True)  # a form's own address may lead to its page
    found = re.search(r'"X-CSRFToken": "([^"]+)"', page.get_data(as_text=True))
    assert found is not None
    return found.group(1)


def post(client: FlaskClient, path: str, data: dict[str, str], **options: Any) -> Any:
    """Submit a form as the browser would, token included."""
    return client.post(
        path, data={"csrf_token": token(client, path if path != "/logout" else "/"), **data}, **options
    )


def sign_in(client: FlaskClient, email: str, password: str, **options: Any) -> Any:
    return post(client, "/login", {"email": email, "password": password}, **options)


def signed_in_client(app: Flask, role: Role) -> FlaskClient:
    """A test client signed in as a new account of `role`, made directly in the app's database (any
    database, PostgreSQL included, where the `login_as` fixture's SQLite app is not the one tested)."""
    from datetime import UTC, datetime

    from webapp.auth.identity import sign_in as start_session
    from webapp.auth.models import User

    client = app.test_client()
    with app.app_context():
        user = User(email=f"{role}@example.com", password_hash="-", role=role, created_at=datetime.now(UTC))
        db.session.add(user)
        db.session.commit()
        with client.session_transaction() as session:
            start_session(session, user)
    return client


def actions(app: Flask) -> list[AuditEntry]:
    """Recorded actions, oldest first."""
    with app.app_context():
        return list(
            db.session.scalars(select(AuditEntry).where(AuditEntry.type == "action").order_by(AuditEntry.id))
        )
