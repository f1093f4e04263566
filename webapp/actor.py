"""Who is acting on a request: recorded with every test send, replay and other person-initiated action.

`g.user` is set by `webapp.auth.identity` on every request; when no one is signed in (a failed
sign-in, say) the actor is the client's address, which still tells two people apart in the audit log.
"""

from __future__ import annotations

from flask import g

from webapp.auth.proxies import client_address


def current_actor() -> str:
    """The signed-in user's name when there is one, else `anonymous@<client address>`."""
    user = getattr(g, "user", None)
    name = getattr(user, "name", None)
    if isinstance(name, str) and name:
        return name
    return f"anonymous@{client_address()}"
