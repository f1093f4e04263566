"""Hold chunked request bodies to `MAX_CONTENT_LENGTH` as well: over it, 413, as for any other body.

Werkzeug checks the limit against `Content-Length`, which a chunked body (`Transfer-Encoding:
chunked`) does not have. The development server and gunicorn both de-chunk such a body and mark the
stream as terminated (`wsgi.input_terminated`); Werkzeug then reads it through a stream that stops
at the limit without a word (`LimitedStream.readall`), so a 2 MB body reached the views cut to 1 MB:
"not valid JSON: Unterminated string", or, for an object padded with spaces, accepted and sent.

This middleware reads a chunked body before the app does, up to one byte past the limit, and hands
the app what a `Content-Length` request would give it: the whole body with its length, or a length
over the limit, which Werkzeug refuses with 413 wherever the body is read (the errors blueprint
words the answer). A body within the limit is in memory either way: the views read it whole.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_READ_SIZE = 64 * 1024


def _read_at_most(stream: IO[bytes], size: int) -> bytes:
    """Up to `size` bytes; a de-chunking stream may return one chunk per read."""
    body = bytearray()
    while len(body) < size:
        data = stream.read(min(_READ_SIZE, size - len(body)))
        if not data:
            break
        body += data
    return bytes(body)


class ChunkedBodyLimit:
    """WSGI middleware: chunked bodies measured against the app's `MAX_CONTENT_LENGTH`."""

    def __init__(self, app: Flask, wsgi_app: WSGIApplication) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        limit = self.app.config["MAX_CONTENT_LENGTH"]
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if limit is not None and chunked:
            body = _read_at_most(environ["wsgi.input"], limit + 1)
            environ["wsgi.input"] = io.BytesIO(body if len(body) <= limit else b"")
            # Now a body of known length: Werkzeug ignores Content-Length beside chunked.
            del environ["HTTP_TRANSFER_ENCODING"]
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.wsgi_app(environ, start_response)


def init_app(app: Flask) -> None:
    """Wrap the app's WSGI callable, outside every other wrapper, so no one reads the body first."""
    app.wsgi_app = ChunkedBodyLimit(app, app.wsgi_app)  # type: ignore[method-assign]
