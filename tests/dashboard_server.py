"""The image's start path, run directly: `scripts/start.sh` → `db upgrade` → gunicorn (`gunicorn.conf.py`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def running_dashboard(log: list[str] | None = None, **settings: str) -> Iterator[str]:
    """Start the dashboard as the image does, on a free port; yield its base URL once it answers.

    Args:
        log: when given, receives the lines the start script wrote, standard output and error in
            one stream as a container's log holds them, once it has stopped.
        **settings: environment variables on top of this process's (DATABASE_URL, WEB_CONCURRENCY, …).
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PORT": str(port),
        "APP_ENV": "production",
        "SECRET_KEY": "a-production-secret-of-some-length",
        "AUDIT_CHAIN_KEY": "a-production-chain-key",
        "AUDIT_MASK_KEY": "a-production-mask-key",
        **settings,
    }
    server = subprocess.Popen(
        ["scripts/start.sh"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # A worker's first request imports the app: allow it time.
        wait_until_answering(f"{base}/healthz", server, request_timeout=15)
        yield base
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
        if log is not None:
            log.extend(output.splitlines())


def wait_until_answering(
    url: str, process: subprocess.Popen[str], *, request_timeout: float = 5, within: float = 60
) -> None:
    """Poll `url` until the server `process` started answers it (any status).

    Refused before the server listens, or timed out while it is still starting; the wait fails
    at once if the process exits, with its stderr.
    """
    deadline = time.monotonic() + within
    while True:
        try:
            requests.get(url, timeout=request_timeout)
            return
        except (requests.ConnectionError, requests.Timeout):
            if process.poll() is not None:
                raise AssertionError(f"{process.args} exited: {process.communicate()[1]}") from None
            assert time.monotonic() < deadline, f"{url} did not answer within {within} s"
            time.sleep(0.1)
