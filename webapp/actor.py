"""Who is acting: recorded with every test send, replay and other person-initiated action.

On a request, `g.user` is set by `webapp.auth.identity`; when no one is signed in (a failed sign-in,
say) the actor is the client's address, which still tells two people apart in the audit log. A
command names the operating-system login that ran it.
"""

from __future__ import annotations

import getpass
import os

from flask import g

from webapp.auth.proxies import client_address


def current_actor() -> str:
    """The signed-in user's name when there is one, else `anonymous@<client address>`."""
    return signed_in_name() or f"anonymous@{client_address()}"


def signed_in_name() -> str | None:
    """The signed-in user's name; None before sign-in is known (a request refused earlier) or
    when no one is signed in."""
    name = getattr(getattr(g, "user", None), "name", None)
    return name if isinstance(name, str) and name else None


def command_line_actor() -> str:
    """Who runs an `event-catalog` command: `cli:<login>` (`cli:uid<n>` for a container user
    without a passwd entry), so the audit log tells commands from people signed in to the dashboard."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"
