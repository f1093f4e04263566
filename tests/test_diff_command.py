"""`event-catalog diff` on two commits of a temporary git repository, exported bundles and a dashboard."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner
from flask import Flask

import analytics
from webapp.auth.roles import Role
from webapp.cli import main

CATALOG_PACKAGE = Path(analytics.__file__).parent
REMOVED = (
    '    cc_id: int = prop("Id of the cluster candidate that was connected.", example=31, gt=0, le=MAX_ID)\n'
)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose second commit removes a property and adds an optional one."""
    root = tmp_path / "repo"
    shutil.copytree(CATALOG_PACKAGE, root / "analytics", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text("# The catalog\n")
    (root / "README.md").write_text("# An application\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "catalog v1")
    tracks = root / "analytics" / "tracks.py"
    source = tracks.read_text()
    assert REMOVED in source
    source = source.replace(REMOVED, "")
    source = source.replace(
        '    region: str = prop("Cloud region the quota applies to.", example="us-east-1", min_length=1)\n',
        '    region: str = prop("Cloud region the quota applies to.", example="us-east-1", min_length=1)\n'
        '    quota_name: str | None = prop("The quota asked for.", example="vCPUs", default=None)\n',
    )
    tracks.write_text(source)
    _git(root, "commit", "-q", "-am", "catalog v2")
    return root


def test_two_commits_breaking_change_exits_one(repo: Path) -> None:
    result = CliRunner().invoke(main, ["diff", "HEAD~1", "HEAD", "--repo", str(repo)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert (
        lines[0].startswith("breaking") and "Cluster Connection Success" in lines[0] and "cc_id" in lines[0]
    )
    assert lines[1].startswith("compatible") and "quota_name" in lines[1]
    assert lines[-1] == "2 changes: 1 breaking, 1 compatible (HEAD~1 → HEAD)"


def test_allow_breaking_exits_zero_and_markdown_fits_a_pull_request(repo: Path) -> None:
    result = CliRunner().invoke(
        main, ["diff", "HEAD~1", "HEAD", "--repo", str(repo), "--allow-breaking", "--format", "markdown"]
    )
    assert result.exit_code == 0
    assert result.output.startswith("### Catalog changes: `HEAD~1` → `HEAD`")
    assert "**Breaking**" in result.output and "**Compatible**" in result.output


def test_the_reverse_direction_is_classified_the_other_way(repo: Path) -> None:
    result = CliRunner().invoke(main, ["diff", "HEAD", "HEAD~1", "--repo", str(repo), "--format", "json"])
    body = json.loads(result.output)
    kinds = {(change["kind"], change["breaking"]) for change in body["changes"]}
    assert ("property added", False) in kinds and ("property removed", True) in kinds
    assert result.exit_code == 1


@pytest.mark.parametrize("package", ["docs", "README.md", "analytics/catalog.py", "."])
def test_a_package_path_that_does_not_hold_the_catalog_is_refused(repo: Path, package: str) -> None:
    # Such a path once let both sides import the installed catalog: "0 changes", exit 0, whatever changed.
    result = CliRunner().invoke(main, ["diff", "HEAD~1", "HEAD", "--repo", str(repo), "--package", package])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: HEAD~1: {package!r} is not the catalog package at that revision "
        "(an `analytics` folder holding catalog.py; see --package)\n"
    )
    assert result.stdout == ""


def test_exported_bundles_diff_as_files(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    export = CliRunner().invoke(main, ["export", "--format", "jsonschema", "-o", str(old)])
    assert export.exit_code == 0, export.output
    bundle = json.loads(old.read_text())
    del bundle["events"]["Stack Deletion"]
    new = tmp_path / "new.json"
    new.write_text(json.dumps(bundle))
    removed = CliRunner().invoke(main, ["diff", str(old), str(new)])
    assert removed.exit_code == 1
    assert "Stack Deletion" in removed.output.splitlines()[0]
    added = CliRunner().invoke(main, ["diff", str(new), str(old)])
    assert added.exit_code == 0 and added.output.startswith("compatible")


@pytest.fixture
def dashboard(make_app: Callable[..., Flask], serve: Callable[[Flask], str]) -> str:
    """A dashboard whose catalog API CI may read without signing in."""
    return serve(make_app(CATALOG_API_PUBLIC=True))


@pytest.fixture
def private_dashboard(app: Flask, serve: Callable[[Flask], str]) -> str:
    """A dashboard with the default access rules: the catalog API needs a signed-in viewer."""
    return serve(app)


def test_a_running_dashboard_compares_with_the_current_code(dashboard: str) -> None:
    result = CliRunner().invoke(main, ["diff", dashboard, "current"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"0 changes: 0 breaking, 0 compatible ({dashboard} → current)\n"


def test_a_dashboard_that_requires_sign_in_is_one_clear_line(private_dashboard: str) -> None:
    result = CliRunner().invoke(main, ["diff", private_dashboard, "current"], env={"EVENT_CATALOG_TOKEN": ""})
    assert result.exit_code == 2
    expected = (
        f"error: {private_dashboard}/api/catalog: the dashboard answered 401 UNAUTHORIZED "
        "(put an API token in EVENT_CATALOG_TOKEN, or run the dashboard with CATALOG_API_PUBLIC=true)"
    )
    # The server thread's access log shares stderr in this test; the command's own line is the last.
    assert result.stderr.strip().splitlines()[-1] == expected


def test_a_dashboard_is_asked_with_the_api_token_from_the_environment(
    app: Flask, private_dashboard: str, make_account: Callable[..., str]
) -> None:
    from webapp.auth import accounts, tokens

    email = make_account(Role.VIEWER)
    with app.app_context():
        secret = tokens.create_token(accounts.get_user(email), "release CI", actor="test").secret
    asked = ["diff", private_dashboard, "current"]
    result = CliRunner().invoke(main, asked, env={"EVENT_CATALOG_TOKEN": secret})
    assert result.exit_code == 0, result.output
    assert result.stdout == f"0 changes: 0 breaking, 0 compatible ({private_dashboard} → current)\n"
    # A CI secret often ends in a newline: the token still works, and never reaches the output.
    with_newline = CliRunner().invoke(main, asked, env={"EVENT_CATALOG_TOKEN": secret + "\n"})
    assert with_newline.exit_code == 0, with_newline.output
    mangled = CliRunner().invoke(
        main, asked, env={"EVENT_CATALOG_TOKEN": secret[:10] + " \x07" + secret[10:]}
    )
    assert mangled.exit_code == 2 and secret[10:] not in mangled.output
    assert mangled.stderr.strip().splitlines()[-1] == (
        "error: EVENT_CATALOG_TOKEN is not an API token (it holds spaces or control characters)"
    )
    refused = CliRunner().invoke(
        main, ["diff", private_dashboard, "current"], env={"EVENT_CATALOG_TOKEN": "ect_" + "x" * 43}
    )
    assert refused.exit_code == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        f"error: {private_dashboard}/api/catalog: the dashboard answered 401 UNAUTHORIZED to the API token "
        "in EVENT_CATALOG_TOKEN: This API token is unknown: check that it was copied whole, or create one on "
        "the API tokens page."
    )


def test_an_expired_api_token_is_said_to_have_expired(
    app: Flask, private_dashboard: str, make_account: Callable[..., str]
) -> None:
    """Tokens expire after 90 days by default, the likeliest CI failure: `diff` listed every reason but
    that one (unknown, revoked, or its account disabled) and dropped the dashboard's own message."""
    from webapp.auth import accounts, tokens
    from webapp.extensions import db

    with app.app_context():
        made = tokens.create_token(accounts.get_user(make_account(Role.VIEWER)), "release CI", actor="test")
        made.record.expires_at = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
        db.session.commit()
        prefix = made.record.prefix
    result = CliRunner().invoke(
        main, ["diff", private_dashboard, "current"], env={"EVENT_CATALOG_TOKEN": made.secret}
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {private_dashboard}/api/catalog: the dashboard answered 401 UNAUTHORIZED to the API token "
        f"in EVENT_CATALOG_TOKEN: This API token ({prefix}…, “release CI”) expired on 2026-01-02 03:04 UTC: "
        "create a new one on the API tokens page."
    )


class _Recorder(BaseHTTPRequestHandler):
    """Answers 401 to every request and keeps the Authorization header it was sent."""

    seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization"))
        self.send_response(401)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet: the test reads the command's own output."""


def test_the_api_token_is_not_sent_where_the_dashboard_redirects() -> None:
    other = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    elsewhere = f"http://127.0.0.1:{other.server_port}/api/catalog"

    class Redirect(_Recorder):
        def do_GET(self) -> None:
            self.seen.append(self.headers.get("Authorization"))
            self.send_response(302)
            self.send_header("Location", elsewhere)
            self.end_headers()

    Redirect.seen, _Recorder.seen = [], []
    first = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    for server in (first, other):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{first.server_port}"
        result = CliRunner().invoke(main, ["diff", url, "current"], env={"EVENT_CATALOG_TOKEN": "ect_secret"})
    finally:
        for server in (first, other):
            server.shutdown()
            server.server_close()
    assert Redirect.seen == ["Bearer ect_secret"] and _Recorder.seen == [None]
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {url}/api/catalog: the dashboard answered 401 Unauthorized (it redirected to {elsewhere}, "
        "which is not sent the API token: name that address)"
    )


@pytest.mark.parametrize(
    ("side", "expected"),
    [
        ("missing.json", "missing.json: no such file"),
        (
            "no-such-ref",
            # Named with --repo: no advice to give --repo.
            "no-such-ref: not `current`, a JSON file, a URL or a git ref ({repo} is not in a git repository)",
        ),
        ("http://127.0.0.1:1", "http://127.0.0.1:1/api/catalog: cannot reach the dashboard"),
        # urllib's and http.client's own refusals of the address were tracebacks.
        ("http://[::1", "http://[::1: not a URL (Invalid IPv6 URL)"),
        ("https://[zz]/", "https://[zz]/: not a URL ('zz' does not appear to be an IPv4 or IPv6 address)"),
        ("http://127.0.0.1:x", "http://127.0.0.1:x: not a URL (nonnumeric port: 'x')"),
        ("http://a b", "http://a b: not a URL (URL can't contain control characters."),
    ],
)
def test_an_unreadable_side_is_one_line_and_exit_two(tmp_path: Path, side: str, expected: str) -> None:
    result = CliRunner().invoke(main, ["diff", side, "current", "--repo", str(tmp_path)])
    assert result.exit_code == 2
    expected = expected.format(repo=tmp_path.resolve())
    assert result.output.startswith(f"error: {expected}") and len(result.output.strip().splitlines()) == 1


def test_a_ref_looked_up_outside_a_repository_advises_giving_repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["diff", "HEAD", "current"])
    assert result.exit_code == 2
    assert result.output == (
        f"error: HEAD: not `current`, a JSON file, a URL or a git ref ({tmp_path.resolve()} is not in a git "
        "repository: give --repo, or run it in the catalog's)\n"
    )


@pytest.mark.parametrize(("args", "side"), [(["", "current"], "OLD"), (["HEAD", " "], "NEW")])
def test_an_empty_side_is_said_to_be_empty(tmp_path: Path, args: list[str], side: str) -> None:
    """It said `error: : not `current`, …`, an empty name before the colon."""
    result = CliRunner().invoke(main, ["diff", *args, "--repo", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output == (
        f"error: {side} is empty: give a git ref, a JSON file, a dashboard URL or `current`\n"
    )


def test_a_server_that_does_not_answer_http_is_one_line_and_exit_two() -> None:
    """http.client's BadStatusLine is neither an OSError nor a ValueError: it was a traceback."""
    server = socket.create_server(("127.0.0.1", 0))

    def answer_garbage() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(b"garbage\r\n\r\n")

    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    try:
        result = CliRunner().invoke(main, ["diff", url, "current"])
    finally:
        thread.join(10)
        server.close()
    assert (result.exit_code, result.output) == (
        2,
        f"error: {url}/api/catalog: no HTTP answer (BadStatusLine: 'garbage')\n",
    )


def test_a_side_that_is_not_json_text_or_is_a_directory_is_one_line_and_exit_two(tmp_path: Path) -> None:
    binary = tmp_path / "binary.py"
    binary.write_bytes(b"\xff\xfe{}")
    (tmp_path / "exports.json").mkdir()
    not_text = CliRunner().invoke(main, ["diff", str(binary)])
    assert not_text.exit_code == 2
    assert not_text.stderr == f"error: {binary}: not a JSON file (byte 0 is not UTF-8 text)\n"
    folder = CliRunner().invoke(main, ["diff", str(tmp_path / "exports.json")])
    assert folder.exit_code == 2
    assert (
        folder.stderr
        == f"error: {tmp_path / 'exports.json'}: is a directory, not an exported catalog (a JSON file)\n"
    )


def test_a_file_that_is_not_a_bundle_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    result = CliRunner().invoke(main, ["diff", str(bad)])
    assert result.exit_code == 2
    assert "not a schema bundle or an /api/catalog document" in result.output


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("[" * 3000 + "]" * 3000, "nested too deeply (the limit is 100 levels of arrays and objects)"),
        (
            '{"events": [], "identifiers": [{"name": "a", "name": "b"}]}',
            'the key "name" appears twice in one object',
        ),
        ('{"version": NaN}', "NaN is not JSON (JSON has no NaN or Infinity)"),
    ],
)
def test_a_file_the_strict_reader_refuses_is_one_line_and_exit_two(
    tmp_path: Path, text: str, refusal: str
) -> None:
    refused = tmp_path / "refused.json"
    refused.write_text(text)
    result = CliRunner().invoke(main, ["diff", str(refused)])
    assert result.exit_code == 2
    assert result.output == f"error: {refused}: {refusal}\n"


@pytest.mark.parametrize("fmt", ["csv", "segment-plan"])
def test_a_plan_export_given_to_diff_says_what_to_diff_instead(tmp_path: Path, fmt: str) -> None:
    """The CSV was refused in a JSON reader's words ("Unexpected UTF-8 BOM"), the Segment plan as
    "not a schema bundle", though both are the catalog's own exports."""
    exported = tmp_path / f"plan.{'csv' if fmt == 'csv' else 'json'}"
    assert CliRunner().invoke(main, ["export", "--format", fmt, "-o", str(exported)]).exit_code == 0
    result = CliRunner().invoke(main, ["diff", str(exported), "current"])
    assert result.exit_code == 2
    what = "a CSV file" if fmt == "csv" else "a Segment Protocols tracking plan"
    assert result.stderr == (
        f"error: {exported}: {what}, which diff does not read: diff the catalog's JSON Schema bundles "
        "(`event-catalog export --format jsonschema -o v1.json` at each version) or its git refs "
        "(`event-catalog diff origin/main HEAD`)\n"
    )


def test_a_segment_plan_in_the_public_api_envelope_is_named_too(tmp_path: Path) -> None:
    plan = tmp_path / "protocols.json"
    plan.write_text(json.dumps({"data": {"trackingPlan": {"rules": []}}}))
    result = CliRunner().invoke(main, ["diff", str(plan)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {plan}: a Segment Protocols tracking plan, which diff")


def test_a_csv_is_told_by_its_header_and_other_text_keeps_the_json_refusal(tmp_path: Path) -> None:
    sheet = tmp_path / "plan-copy.txt"
    sheet.write_text("Event Name;Property Name;Data Type\nOrder Completed;total;float\n")
    notes = tmp_path / "notes.md"
    notes.write_text("# Plan, v3\n")
    told = CliRunner().invoke(main, ["diff", str(sheet)])
    assert told.exit_code == 2 and told.stderr.startswith(
        f"error: {sheet}: a CSV file, which diff does not read"
    )
    other = CliRunner().invoke(main, ["diff", str(notes)])
    assert (other.exit_code, other.stderr) == (
        2,
        f"error: {notes}: not valid JSON (Expecting value, line 1)\n",
    )
