"""Who is acting on a request: recorded with every test send, replay and other person-initiated action.

Accounts and roles arrive with the access issue; until a person is signed in, the actor is the
client's address, which is still enough to tell two people's test sends apart in the audit log.
"""

from __future__ import annotations

from flask import g, request


def current_actor() -> str:
    """The signed-in user's name when there is one, else `anonymous@<client address>`."""
    user = getattr(g, "user", None)
    name = getattr(user, "name", None)
    if isinstance(name, str) and name:
        return name
    return f"anonymous@{request.remote_addr or 'unknown'}"
