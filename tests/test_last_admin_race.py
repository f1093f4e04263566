"""Two admins demoting or disabling each other at the same moment leave one admin (SQLite, PostgreSQL).

Each change counted the active admins and then committed: two requests could each count two, and
both committed, so no one could open the Users page any more. Here each request, once it has
counted, waits (up to two seconds) for the other to have counted too, so that the counts overlap
whenever the database lets them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from webapp import create_app
from webapp.auth.accounts import AccountError, add_user, disable_user, find_user, set_role
from webapp.auth.roles import Role
from webapp.extensions import db

FIRST, SECOND = "first-admin@example.com", "second-admin@example.com"


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The dashboard on each kind of database, with two admins."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        for email in (FIRST, SECOND):
            add_user(email, None, Role.ADMIN, actor="test")
    yield app
    with app.app_context():
        db.engine.dispose()


def _counts_overlap(app: Flask) -> None:
    """Hold each request after its count of the admins until the other has counted (or two seconds)."""
    barrier = threading.Barrier(2, timeout=2)
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "after_cursor_execute")
    def wait_for_the_other(*args: Any) -> None:
        if "count(users.id)" in args[2].lower():
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass  # the other request waits for this one's lock: it counts after this commits


@pytest.mark.parametrize(
    "change",
    [
        lambda target, actor: set_role(target, Role.VIEWER, actor=actor),
        lambda target, actor: disable_user(target, actor=actor),
    ],
    ids=["demote", "disable"],
)
def test_two_admins_changing_each_other_at_once_leave_one_active_admin(
    app: Flask, change: Callable[[str, str], object]
) -> None:
    _counts_overlap(app)
    outcomes: dict[str, str] = {}

    def act(actor: str, target: str) -> None:
        with app.app_context():
            try:
                change(target, actor)
                outcomes[actor] = "changed"
            except AccountError as exc:
                outcomes[actor] = str(exc)

    threads = [threading.Thread(target=act, args=pair) for pair in ((FIRST, SECOND), (SECOND, FIRST))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values())[0] == "changed"
    (refused,) = [text for text in outcomes.values() if text != "changed"]
    assert refused.endswith("is the last active admin: make another account admin first")
    with app.app_context():
        admins = [find_user(email) for email in (FIRST, SECOND)]
        active = [user for user in admins if user is not None and user.active and user.role is Role.ADMIN]
    assert len(active) == 1
