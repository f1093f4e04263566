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
def running_dashboard(**settings: str) -> Iterator[str]:
    """Start the dashboard as the image does, on a free port; yield its base URL once it answers.

    Args:
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
        **settings,
    }
    server = subprocess.Popen(
        ["scripts/start.sh"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                # A worker's first request imports the app: allow it time.
                requests.get(f"{base}/healthz", timeout=15)
                break
            # Refused before gunicorn listens; a timeout while its worker is still importing the app.
            except (requests.ConnectionError, requests.Timeout):
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.communicate(timeout=20)
