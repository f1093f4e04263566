"""An option that holds one value, given twice on the command line: refused, not its last value kept."""

from __future__ import annotations

import json

import pytest
from auditlog import record_delivery
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskCliRunner

from analytics.audit import AuditStatus, AuditStore
from webapp.cli import main

CLUSTER_SEND = "send ClusterProvisioningSuccess --scope user=1,project=12,cluster=4 --prop cluster_type=eks"


@pytest.mark.parametrize(
    ("args", "refusal"),
    [
        (
            "replay --dry-run --status failed --status dropped",
            "--status is given twice (failed and dropped): give it once",
        ),
        (
            "audit export --status failed --status delivered",
            "--status is given twice (failed and delivered): give it once",
        ),
        (
            "audit export --outcome refused --outcome may_have_arrived --format ndjson",
            "--outcome is given twice (refused and may_have_arrived): give it once",
        ),
        (
            "audit export --http-status 500 --http-status 200 --http-status 502",
            "--http-status is given 3 times (500, 200 and 502): give it once",
        ),
        ("audit export --since 1h --since 2d", "--since is given twice (1h and 2d): give it once"),
        (
            f"{CLUSTER_SEND} --prop infra_id=9 --destination default --destination other --dry-run",
            "--destination is given twice (default and other): give it once",
        ),
        (f"{CLUSTER_SEND} --prop infra_id=9 --dry-run --dry-run", "--dry-run is given twice: give it once"),
        # A byte that is not UTF-8 (`$'\xff'`) shown as typed, not as the surrogate Python decoded it to.
        ("replay --since \udcff --since 1h", "--since is given twice ('\\xff' and 1h): give it once"),
    ],
)
def test_a_single_valued_option_given_twice_is_refused(
    app: Flask, runner: FlaskCliRunner, sqlite_store: AuditStore, args: str, refusal: str
) -> None:
    """Click kept the last value: `replay --status failed --status dropped` re-sent only `dropped`
    and exited 0, and `audit export` exported the last status, outcome or HTTP status only."""
    record_delivery(sqlite_store, AuditStatus.FAILED)
    result = runner.invoke(args=args.split())
    assert result.exit_code == 2
    assert refusal in result.stderr and result.stdout == ""


def test_the_console_script_says_it_in_one_line_naming_the_help(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    """Flask's own commands too: `run --port` kept its last port."""
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    for args, refusal in [
        (
            "replay --status failed --status dropped",
            "error: --status is given twice (failed and dropped): give it once; "
            "see `event-catalog replay --help`\n",
        ),
        (
            "run --port 5001 --port 5002",
            "error: --port is given twice (5001 and 5002): give it once; see `event-catalog run --help`\n",
        ),
    ]:
        result = CliRunner().invoke(main, args.split(), prog_name="event-catalog")
        assert (result.exit_code, result.stdout, result.stderr) == (2, "", refusal)


def test_a_comma_separated_list_is_one_value(
    app: Flask, runner: FlaskCliRunner, sqlite_store: AuditStore
) -> None:
    record_delivery(sqlite_store, AuditStatus.FAILED)
    record_delivery(sqlite_store, AuditStatus.DROPPED)
    result = runner.invoke(args=["replay", "--dry-run", "--status", "failed,dropped"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "dry run: 2 entries would be re-sent, 0 skipped"


def test_an_option_that_is_repeatable_still_repeats(app: Flask, runner: FlaskCliRunner) -> None:
    args = "send ClusterPreflightChecksFailed --scope user=1,project=12 --prop cloud_provider=aws"
    result = runner.invoke(
        args=[*args.split(), "--prop", "failed_checks=vcpu_quota", "--prop", "failed_checks=iam", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    sent = json.loads(result.stdout[result.stdout.index("{") :])
    assert sent["properties"]["failed_checks"] == ["vcpu_quota", "iam"]
