"""The dashboard as the image runs it, on a throwaway database, and a person signed in to it.

`served` starts `scripts/start.sh` (migrations, then gunicorn with `gunicorn.conf.py`) with the
image's environment (`APP_ENV=production`, JSON logs, multiprocess metrics), bound to loopback on a
free port. The tester's rate limits are raised for the run: a benchmark sends far more than a person
would, and a 429 would measure the limiter instead of the send.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import requests

from webapp.auth.roles import Role

ROOT = Path(__file__).resolve().parent.parent
EMAIL = "bench@example.com"
# The benchmark's own throwaway account; long enough for the password rule.
PASSWORD = secrets.token_urlsafe(18)
WRITE_KEY = "bench-key"
# Far above any run's sends, so the limiter never answers 429 during a measurement.
BENCH_SEND_LIMIT = "1000000 per minute"
STARTUP_SECONDS = 60
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]*)"')


def add_account(database_url: str, role: Role = Role.ENGINEER) -> None:
    """Create the benchmark's account, as `event-catalog users add` does."""
    from webapp import create_app
    from webapp.auth.accounts import add_user
    from webapp.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    with app.app_context():
        add_user(EMAIL, PASSWORD, role, actor="bench")
        db.engine.dispose()


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice for port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(database_url: str, collector_url: str, port: int, metrics: str) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        # The Dockerfile's settings.
        "PORT": str(port),
        "LOG_FORMAT": "json",
        "APP_ENV": "production",
        "PROMETHEUS_MULTIPROC_DIR": metrics,
        # What a deployment provides: its secret, database and Segment settings.
        "SECRET_KEY": secrets.token_hex(32),
        "AUDIT_CHAIN_KEY": secrets.token_hex(32),
        "AUDIT_MASK_KEY": secrets.token_hex(32),
        "DATABASE_URL": database_url,
        "SEGMENT_WRITE_KEY": WRITE_KEY,
        "SEGMENT_HOST": collector_url,
        # Plain HTTP on loopback, as the Dockerfile allows for a private network.
        "SESSION_COOKIE_SECURE": "false",
        "TESTER_LIMIT_PER_PERSON": BENCH_SEND_LIMIT,
        "TESTER_LIMIT_PER_ADDRESS": BENCH_SEND_LIMIT,
        # gunicorn.conf.py binds every interface; a benchmark stays on loopback.
        "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}",
    }


def _wait_until_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the dashboard exited with status {server.returncode}:\n{_tail(log)}")
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(f"{url}/healthz", timeout=5).ok:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the dashboard was not healthy after {STARTUP_SECONDS} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def served(database_url: str, collector_url: str) -> Iterator[str]:
    """The dashboard under gunicorn on a migrated database with the benchmark's account; yields its URL."""
    add_account(database_url)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="ec-bench-web-") as folder:
        log = Path(folder) / "gunicorn.log"
        environment = _environment(database_url, collector_url, port, str(Path(folder) / "metrics"))
        with log.open("wb") as output:
            server = subprocess.Popen(
                ["scripts/start.sh"], cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_healthy(url, server, log)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def signed_in(url: str) -> requests.Session:
    """A session signed in through the sign-in form, with the CSRF token the form carries."""
    session = requests.Session()
    page = session.get(f"{url}/login", timeout=10)
    page.raise_for_status()
    found = _CSRF.search(page.text)
    if found is None:
        raise RuntimeError("the sign-in page has no CSRF token")
    response = session.post(
        f"{url}/login",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": unescape(found.group(1))},
        allow_redirects=False,
        timeout=10,
    )
    if response.status_code != 303:
        raise RuntimeError(f"signing in answered {response.status_code}, not 303")
    return session
