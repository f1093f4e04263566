"""An HTTP endpoint that reads each request whole and closes the connection without answering.

What a load balancer does when it resets a connection after its backend took the batch: the request
arrived, the answer never came. A plain module (not conftest) so that tests can import it.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable
from types import TracebackType


class ClosingServer:
    """Listens on a free local port; each request's body is kept in `bodies` before the close.

    Args:
        reset: close with a TCP reset (`ConnectionResetError` for the client) instead of a plain
            close (`RemoteDisconnected`).
    """

    def __init__(self, reset: bool = False) -> None:
        self.reset = reset
        self.bodies: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.host = f"127.0.0.1:{self._listener.getsockname()[1]}"
        """`127.0.0.1:<port>`, as the error lines name it."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ClosingServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()

    def _serve(self) -> None:
        # The accept timeout only lets the loop see `_stop`; nothing is asserted on time.
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(None)
                self.bodies.append(_read_request(connection))
                if self.reset:
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _read_request(connection: socket.socket) -> bytes:
    """The body of one HTTP request, read to its Content-Length (less if the client gives up first)."""
    received = _read_until(connection, lambda data: b"\r\n\r\n" in data, b"")
    head, _, body = received.partition(b"\r\n\r\n")
    lengths = [
        line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    ]
    length = int(lengths[0]) if lengths else 0
    return _read_until(connection, lambda data: len(data) >= length, body)


def _read_until(connection: socket.socket, done: Callable[[bytes], bool], received: bytes) -> bytes:
    while not done(received):
        chunk = connection.recv(65536)
        if not chunk:
            break
        received += chunk
    return received
