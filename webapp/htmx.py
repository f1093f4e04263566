"""How the dashboard answers htmx: which requests swap a fragment, what caches must tell apart, and the
status a page that shows its own refusal answers with.

Every view, the error pages and the sign-in challenge ask `wants_fragment` rather than read the
header: a history restore (Back to a page htmx keeps no copy of) sends `HX-Request` too, and puts
the answer in place of the whole page, so it needs the page, an error page included, not a fragment.
"""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response


def wants_fragment() -> bool:
    """An htmx request that swaps part of a page; a history restore needs the whole page again."""
    return request.headers.get("HX-Request") == "true" and "HX-History-Restore-Request" not in request.headers


def vary_on_htmx(response: Response) -> Response:
    """Caches must keep the page and the fragment of one URL apart."""
    response.vary.add("HX-Request")
    return response


def shown_status(status: int) -> int:
    """The status for a page that shows its own refusal: 200 to htmx, which swaps no 4xx answer.

    A boosted form (the users page's Disable, behind its confirmation) would otherwise leave the
    page as it was, the refusal unseen; browsers without htmx get the real status. A history
    restore is told 200 too: it does not swap a 4xx page either.
    """
    return 200 if request.headers.get("HX-Request") == "true" else status
