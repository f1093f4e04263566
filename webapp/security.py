"""Security headers on every response: pages, fragments, JSON, errors and static files.

The Content-Security-Policy allows scripts, styles and images from our own origin only: htmx is
served from `static/vendor/`, pages carry no inline script or `hx-on` handler, htmx's own
indicator styles are off and it does not copy `style` attributes when it settles a swap
(`htmx-config` in base.html), so nothing needs `unsafe-inline`.
"""

from __future__ import annotations

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "object-src 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Older browsers ignore CSP's frame-ancestors; this says the same to them.
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

# A year, the value browsers' preload lists expect; only ever sent over HTTPS.
HSTS = "max-age=31536000"


def add_security_headers(response: Response) -> Response:
    """`after_request`: the headers above; pages are not cached, since they can hold personal data.

    Date is left to the server, which always writes it."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if request.endpoint != "static" and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    # Werkzeug's conditional responses (static files) add a Date of their own, and both servers
    # (gunicorn, the dev server) always write one: the response carried two Date headers.
    response.headers.pop("Date", None)
    return response


def init_app(app: Flask) -> None:
    """Install the headers on every response of the app."""
    app.after_request(add_security_headers)
