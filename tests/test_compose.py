"""The local stack of `compose.yaml`, brought up without Docker, and the image's promises.

Docker does not run on every machine that runs this suite, so the stack's three services are
started as compose would start them, from the same file: the collector with the service's own
command (on a free port), the dashboard through the image's start script with the service's
environment, and the real PostgreSQL server standing in for the `postgres` service. Whatever
compose.yaml says that the code would refuse (a setting, a command option, a port that does not
match) fails here.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml
from cryptography.fernet import Fernet
from dashboard_server import ROOT, running_dashboard, wait_until_answering
from sqlalchemy import make_url

import analytics
from analytics.audit import AuditEntry, AuditStatus, create_audit_engine
from analytics.scopes import ClusterScope
from analytics.tracks import ClusterProvisioningSuccess

_REQUIRED = re.compile(r"\$\{(\w+):\?[^}]+\}")
"""Compose's `${NAME:?message}`: the variable must be set (in `.env`), or compose stops with the message."""


_OPTIONAL = re.compile(r"\$\{(\w+):-([^}]*)\}")
"""Compose's `${NAME:-default}`: the variable from `.env` when set, else the default."""


def _services(given: dict[str, str] | None = None) -> dict[str, Any]:
    """compose.yaml's services, with each variable taken from `given` as compose would."""
    text = (ROOT / "compose.yaml").read_text()
    if given is not None:
        text = _REQUIRED.sub(lambda match: given[match.group(1)], text)
        # Compose substitutes into the parsed strings; here the text is substituted, so quote it.
        text = _OPTIONAL.sub(lambda match: json.dumps(given.get(match.group(1), match.group(2))), text)
    services: dict[str, Any] = yaml.safe_load(text)["services"]
    return services


STACK_WIRING = {"DATABASE_URL", "APP_ENV", "PORT"}
"""What compose.yaml sets whatever `.env` says: the stack's database, production, the published port."""


def _secrets() -> dict[str, str]:
    return {name: secrets.token_hex(32) for name in ("SECRET_KEY", "AUDIT_CHAIN_KEY", "AUDIT_MASK_KEY")}


def _dashboard_environment(dotenv: dict[str, str]) -> dict[str, str]:
    """The variables compose gives the dashboard's container (beyond the image's `ENV`) from a `.env`
    holding `dotenv`: its `env_file`'s lines, then the service's `environment`, which wins."""
    dashboard = _services(dotenv)["dashboard"]
    env_files = dashboard.get("env_file", [])
    passed = dict(dotenv) if ".env" in ([env_files] if isinstance(env_files, str) else env_files) else {}
    return {**passed, **{name: str(value) for name, value in dashboard["environment"].items()}}


def _documented_variables() -> list[str]:
    """The variables of the README's configuration table."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Configuration") : readme.index("## Access and roles")]
    return re.findall(r"^\| `([A-Z_]+)` \|", table, re.MULTILINE)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def _image_environment() -> dict[str, str]:
    """The variables the Dockerfile's `ENV` sets for every container of the image."""
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    [line] = [line for line in dockerfile.splitlines() if line.startswith("ENV ")]
    return dict(pair.split("=", 1) for pair in shlex.split(line)[1:])


@contextmanager
def _collector(command: list[str], environment: dict[str, str] | None = None) -> Iterator[str]:
    """The collector service's command, on 127.0.0.1 and a free port; yields its URL.

    Args:
        environment: the whole environment to run it in; this process's when None.
    """
    port = _free_port()
    local = [*command]
    local[local.index("--host") + 1] = "127.0.0.1"
    local[local.index("--port") + 1] = str(port)
    executable = Path(sys.executable).parent / local[0]
    process = subprocess.Popen(
        [str(executable), *local[1:]], env=environment, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/stats", process)
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=20)


def test_the_collector_service_starts_in_the_image_s_environment_without_any_secret(tmp_path: Path) -> None:
    """The image's APP_ENV=production applies to the collector's container too, and compose gives it
    none of the dashboard's secrets: it needs none."""
    environment = {
        **_image_environment(),
        "PATH": os.environ["PATH"],
        # The image creates its metrics folder; here, a folder of the test's own.
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    assert environment["APP_ENV"] == "production"
    assert "environment" not in _services()["collector"]
    with _collector(_services()["collector"]["command"], environment) as collector_url:
        assert requests.get(f"{collector_url}/stats", timeout=10).status_code == 200


def test_the_services_agree_on_addresses_and_credentials() -> None:
    services = _services()
    dashboard = _dashboard_environment(_secrets())
    collector_port = _option(services["collector"]["command"], "--port")
    assert dashboard["SEGMENT_HOST"] == f"http://collector:{collector_port}"
    assert f"127.0.0.1:{collector_port}:{collector_port}" in services["collector"]["ports"]
    database = make_url(dashboard["DATABASE_URL"])
    postgres = services["postgres"]["environment"]
    assert (database.host, database.port) == ("postgres", 5432)
    assert (database.username, database.password, database.database) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )
    assert services["dashboard"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_image_runs_unprivileged_and_checks_the_health_endpoint() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    user = re.search(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert user is not None and user.group(1) not in {"root", "0"}
    healthcheck = dockerfile[dockerfile.index("HEALTHCHECK") :]
    assert "/healthz" in healthcheck.splitlines()[1]
    # The start script migrates before it serves: without a start period, a migration longer than
    # interval × retries (90 s) made the container unhealthy in the middle of it.
    start_period = re.search(r"--start-period=(\d+)m\b", healthcheck.splitlines()[0])
    assert start_period is not None and int(start_period.group(1)) >= 5
    assert re.search(r'^CMD \["scripts/start.sh"\]$', dockerfile, re.MULTILINE)
    assert os.access(ROOT / "scripts" / "start.sh", os.X_OK)
    # A one-off command in the image loads the library, whose metrics need their folder to exist.
    assert 'mkdir -p instance "$PROMETHEUS_MULTIPROC_DIR"' in dockerfile


def test_the_stack_s_secrets_are_required_from_env_and_never_written_in_the_file() -> None:
    """compose.yaml carried placeholder secrets that production accepted: the set-up code and session
    signatures of every stack that kept them could be worked out from the published file."""
    dashboard = _services()["dashboard"]["environment"]
    for name in ("SECRET_KEY", "AUDIT_CHAIN_KEY", "AUDIT_MASK_KEY"):
        required = _REQUIRED.fullmatch(dashboard[name])
        assert required is not None and required.group(1) == name
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    # After a rotation the former chain keys come from .env too; without them, none.
    assert "AUDIT_CHAIN_KEYS_RETIRED" not in _dashboard_environment(_secrets())
    rotated = _dashboard_environment({**_secrets(), "AUDIT_CHAIN_KEYS_RETIRED": "the-former-chain-key"})
    assert rotated["AUDIT_CHAIN_KEYS_RETIRED"] == "the-former-chain-key"


def test_every_documented_setting_in_env_reaches_the_dashboard() -> None:
    """compose passed on only the variables it listed: AUDIT_ENCRYPTION_KEY, METRICS_TOKEN,
    TESTER_DESTINATIONS or SESSION_LIFETIME written into .env did nothing, and the stack ran without
    sealed personal data, so `replay` skipped every failed identify."""
    documented = _documented_variables()
    assert {"AUDIT_ENCRYPTION_KEY", "METRICS_TOKEN", "SESSION_LIFETIME", "WEB_CONCURRENCY"} <= set(documented)
    dotenv = {**_secrets(), **{name: f"value-of-{name}" for name in documented if name not in _secrets()}}
    environment = _dashboard_environment(dotenv)
    ignored = {name for name in documented if environment.get(name) != dotenv[name]}
    assert ignored == STACK_WIRING


def test_the_stack_comes_up_and_an_application_event_reaches_the_collector(empty_postgres_url: str) -> None:
    dotenv = {
        **_secrets(),
        "METRICS_TOKEN": secrets.token_hex(16),
        "AUDIT_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    with _collector(_services()["collector"]["command"]) as collector_url:
        environment = {
            **_dashboard_environment(dotenv),
            "DATABASE_URL": empty_postgres_url,
            "SEGMENT_HOST": collector_url,
        }
        # The published port is the test's own: several runs share this machine.
        del environment["PORT"]
        with running_dashboard(**environment) as base:
            assert requests.get(f"{base}/metrics", timeout=10).status_code == 401
            bearer = {"Authorization": f"Bearer {dotenv['METRICS_TOKEN']}"}
            assert requests.get(f"{base}/metrics", headers=bearer, timeout=10).status_code == 200
            health = requests.get(f"{base}/healthz", timeout=10)
            assert health.status_code == 200, health.text
            body = health.json()
            assert body["database"]["dialect"] == "postgresql" and body["database"]["ok"]
            assert body["segment"] == {"enabled": True, "host": collector_url}
            assert requests.get(f"{base}/setup", timeout=10).status_code == 200

            # An application beside the stack writes the same database and sends to the same collector.
            client = analytics.init(
                environment["SEGMENT_WRITE_KEY"], host=collector_url, database_url=empty_postgres_url
            )
            scope = ClusterScope(user_id=1, project_id=2, cluster_id=3)
            receipt = client.track(ClusterProvisioningSuccess(scope=scope, cluster_type="eks", infra_id=9))
            analytics.shutdown()
            assert receipt.ok
            stats = requests.get(f"{collector_url}/stats", timeout=10).json()
            assert stats["messages"] == 1
    engine = create_audit_engine(empty_postgres_url)
    try:
        entry = analytics.AuditStore(engine).entry(receipt.message_id)
        assert entry is not None and entry.status == AuditStatus.DELIVERED
        assert isinstance(entry, AuditEntry)
    finally:
        engine.dispose()
