"""The dashboard shell: health, the catalog home, errors, configuration layers and the CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from dashboard_server import running_dashboard
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from production_settings import AUDIT_KEYS, SECRET_KEY, SECRET_LINE

import analytics
from analytics.audit import SCHEMA_REVISION
from analytics.catalog import CATALOG
from analytics.errors import AuditDatabaseError
from webapp import create_app
from webapp.cli import main
from webapp.config import ConfigurationError, from_environment


def test_healthz_reports_database_and_segment_client(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == {
        "ok": True,
        "dialect": "sqlite",
        "revision": SCHEMA_REVISION,
        "expected_revision": SCHEMA_REVISION,
    }
    assert body["segment"]["enabled"] is True and body["segment"]["host"].startswith("http")
    assert body["catalog_version"] == CATALOG.version


def test_healthz_masks_credentials_in_the_segment_host(make_app: Callable[..., Flask]) -> None:
    """`/healthz` is public: a relay's basic-auth password in SEGMENT_HOST was shown to anyone."""
    app = make_app(SEGMENT_HOST="https://relay:s3cret@relay.example.com:8443/v1")
    segment = app.test_client().get("/healthz").get_json()["segment"]
    assert segment["host"] == "https://***@relay.example.com:8443/v1"


def test_healthz_is_503_on_an_unmigrated_database(tmp_path: Path) -> None:
    (tmp_path / "empty.db").touch()
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.db'}"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "error"
    assert body["database"]["revision"] is None
    assert "event-catalog db upgrade" in body["database"]["error"]


def test_healthz_is_503_when_the_database_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    """The public answer carried the driver's message, which names the server and the database user."""
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    )
    for _ in range(2):
        response = app.test_client().get("/healthz")
        assert response.status_code == 503
        assert response.get_json()["database"] == {
            "ok": False,
            "error": "The database cannot be reached. Check DATABASE_URL and that the server is up.",
        }
    [warning] = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warning.startswith("every page answers 503: The database cannot be reached.")
    assert "127.0.0.1" in warning and "port 1" in warning


def test_home_lists_every_event_with_its_scope_and_status(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for name, info in CATALOG.events.items():
        assert f'href="/events/{info.constant}">{name}</a>' in page
    assert "status-deprecated" in page
    assert CATALOG.version in page


def test_pages_name_an_icon_that_is_served(client: FlaskClient) -> None:
    """A tab among many is found by its icon; an empty one also stops browsers asking for /favicon.ico."""
    page = client.get("/").get_data(as_text=True)
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert icon.get_data(as_text=True).startswith("<svg ")
    icon.close()


def test_unknown_page_is_a_404_page_and_api_paths_answer_json(client: FlaskClient) -> None:
    page = client.get("/nowhere")
    assert page.status_code == 404 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "<title>404 Not Found · event-catalog</title>" in html
    # Said once: the heading names it, the alert says why.
    assert '<h1>Not Found <span class="muted">(404)</span></h1>' in html and html.count("404 Not Found") == 1
    api = client.get("/api/nowhere")
    assert api.status_code == 404 and api.mimetype == "application/json"
    assert api.get_json()["error"]["status"] == 404
    fragment = client.get("/nowhere", headers={"HX-Request": "true"})
    assert fragment.status_code == 404 and "<html" not in fragment.get_data(as_text=True)


def test_wrong_method_is_405(client: FlaskClient) -> None:
    answer = client.post("/healthz")
    # The error pages keep the error's own headers: a 405 says which methods the URL takes.
    assert answer.status_code == 405 and set(answer.headers["Allow"].split(", ")) >= {"GET", "HEAD"}


def test_environment_overrides_defaults_and_normalises_urls() -> None:
    settings = from_environment(
        {"DATABASE_URL": "postgres://u@h/db", "SEGMENT_CLIENT_KEY": "k", "COLLECTOR_PORT": "5200"}
    )
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"
    assert settings["SEGMENT_WRITE_KEY"] == "k"
    assert settings["SEGMENT_HOST"] == "http://127.0.0.1:5200"


def test_a_relative_sqlite_path_names_the_same_file_for_the_dashboard_and_the_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flask-SQLAlchemy reads a relative SQLite path from the instance folder; the library from the
    working directory. The URL is made absolute first, so both open the file the README names."""
    from analytics.audit import create_audit_engine
    from webapp import create_app
    from webapp.extensions import db

    monkeypatch.chdir(tmp_path)
    settings = from_environment({"DATABASE_URL": "sqlite:///instance/event-catalog.db"})
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'instance' / 'event-catalog.db'}"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": settings["SQLALCHEMY_DATABASE_URI"]})
    with app.app_context():
        dashboard = db.engine.url.database
        db.engine.dispose()
    library = create_audit_engine("sqlite:///instance/event-catalog.db")
    assert dashboard == library.url.database == str(tmp_path / "instance" / "event-catalog.db")
    library.dispose()


def _refused_everywhere(url: str, advice: str) -> None:
    """The library, the commands, the pages and /healthz each refuse the database `url` names with
    `advice` (one line on the command line, exit 2; a 503 page)."""
    with pytest.raises(AuditDatabaseError, match=re.escape(advice)):
        analytics.init("key", database_url=url)
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    runner = app.test_cli_runner()
    for command, doing in [
        (["audit", "export"], "cannot read the audit log"),
        (["audit", "verify"], "cannot read the audit log"),
        (["users", "list"], "cannot use the accounts table"),
        (["drift"], "cannot read the audit log"),
    ]:
        result = runner.invoke(args=command)
        assert (result.exit_code, result.stderr) == (2, f"error: {doing}: {advice}\n"), command
    client = app.test_client()
    for page in ("/", "/healthz"):
        response = client.get(page)
        # From the second character: a page starts its sentence with a capital.
        assert response.status_code == 503 and advice[1:] in response.get_data(as_text=True), page


def test_a_mistyped_sqlite_path_is_refused_everywhere_and_never_created(tmp_path: Path) -> None:
    """Only `db upgrade` creates a SQLite file (and its folder): a path that names none is refused
    by the library, the commands and the dashboard with what to do, and is left as it was."""
    typo = tmp_path / "instance" / "event-catalgo.db"
    (tmp_path / "instance").mkdir()
    advice = f"no SQLite database at {typo}: check DATABASE_URL, or create it with `event-catalog db upgrade`"
    _refused_everywhere(f"sqlite:///{typo}", advice)
    assert not typo.exists()

    fresh = tmp_path / "new" / "folder" / "audit.db"
    upgraded = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{fresh}"})
    assert upgraded.test_cli_runner().invoke(args=["db", "upgrade"]).exit_code == 0
    assert fresh.stat().st_size > 0


@pytest.mark.parametrize(
    ("name", "problem"),
    [("folder", "is a directory, not an SQLite database"), ("notes.txt", "is not an SQLite database")],
)
def test_a_sqlite_path_that_is_not_a_database_says_so_everywhere_and_is_left_alone(
    tmp_path: Path, name: str, problem: str
) -> None:
    """SQLite has no server: "cannot be reached … that the server is up" sent people looking for one."""
    target = tmp_path / name
    if name == "folder":
        target.mkdir()
    else:
        target.write_text("my notes\n")
    _refused_everywhere(f"sqlite:///{target}", f"{target} {problem}: check DATABASE_URL")
    assert target.is_dir() if name == "folder" else target.read_text() == "my notes\n"


def test_environment_reports_every_bad_value_in_one_line_each() -> None:
    with pytest.raises(ConfigurationError) as caught:
        from_environment(
            {
                "AUDIT_MASK_PERSONAL_DATA": "maybe",
                "SEGMENT_HOST": "collector:5100",
                "COLLECTOR_PORT": "99999",
                "DATABASE_URL": "not a url",
                "LOG_FORMAT": "xml",
                "SECRET_KEY": "fine",
            }
        )
    assert caught.value.problems == [
        "DATABASE_URL: cannot parse the database URL: expected e.g. postgresql://user@host/db or sqlite:///path",
        "COLLECTOR_PORT: '99999' is not a port number (1-65535)",
        "SEGMENT_HOST: 'collector:5100' is not an http(s) URL, e.g. https://api.segment.io",
        "AUDIT_MASK_PERSONAL_DATA: must be true or false, not 'maybe'",
        "LOG_FORMAT: 'xml' is not one of text, json",
    ]


@pytest.fixture
def instance_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An instance folder of the test's own, so that the checkout's `instance/config.py` is left alone."""
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda _app: str(tmp_path))
    return tmp_path / "config.py"


def test_an_instance_file_in_the_working_directory_that_is_not_read_is_warned_of(
    tmp_path: Path, instance_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An installed package reads `<prefix>/var/webapp-instance/config.py`: the deploy folder's
    `./instance/config.py`, beside the default SQLite file, was silently ignored."""
    deploy = tmp_path / "deploy"
    beside = deploy / "instance" / "config.py"
    beside.parent.mkdir(parents=True)
    beside.write_text('SESSION_LIFETIME = "30m"\n')
    monkeypatch.chdir(deploy)

    def warned() -> list[str]:
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'app.db'}"})
        return [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.name == "webapp"]

    assert warned() == [
        f"{beside} is not read: this installation reads its settings from {instance_file}; "
        "move the file there"
    ]
    caplog.clear()
    beside.rename(instance_file)
    assert warned() == []


def test_instance_file_values_are_checked_as_the_environment_s_are(
    tmp_path: Path, instance_file: Path
) -> None:
    instance_file.write_text(
        'SEGMENT_HOST = "collector:5100"\nTESTER_TIMEOUT = 999\nSESSION_LIFETIME = "forever"\n'
        'SEGMENT_WRITE_KEY = "local-development"\n'
    )
    with pytest.raises(ConfigurationError) as caught:
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'app.db'}"})
    assert caught.value.problems == [
        "SEGMENT_HOST: 'collector:5100' is not an http(s) URL, e.g. https://api.segment.io "
        f"(in {instance_file})",
        f"TESTER_TIMEOUT: '999' is not a number of seconds above 0 and at most 300 (in {instance_file})",
        "SESSION_LIFETIME: 'forever' is not a duration: use a positive number and a unit, like 15m, 24h, 30d "
        f"or 2w (in {instance_file})",
    ]


def test_instance_file_values_are_read_as_the_environment_s_are(tmp_path: Path, instance_file: Path) -> None:
    """Variables parsed as from the environment; other Flask settings taken as they are."""
    instance_file.write_text(
        'SEGMENT_HOST = "http://127.0.0.1:5999/"\nTESTER_TIMEOUT = 5\nSESSION_LIFETIME = "30m"\n'
        "AUDIT_MASK_PERSONAL_DATA = False\nMAX_CONTENT_LENGTH = 2048\n"
    )
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'app.db'}"})
    assert app.config["SEGMENT_HOST"] == "http://127.0.0.1:5999"
    assert app.config["TESTER_TIMEOUT"] == 5.0
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(minutes=30)
    assert app.config["AUDIT_MASK_PERSONAL_DATA"] is False
    assert app.config["MAX_CONTENT_LENGTH"] == 2048


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ('SECRET_KEY = "a-secret-of-our-own"\nSEGMENT_HOST = \n', "2: SyntaxError: invalid syntax"),
        (
            "import no_such_settings_module\n",
            "1: ModuleNotFoundError: No module named 'no_such_settings_module'",
        ),
    ],
)
def test_an_instance_file_that_fails_to_run_is_one_line_naming_its_line(
    tmp_path: Path, instance_file: Path, code: str, problem: str
) -> None:
    """A syntax error or a failing import in the file was a Python traceback, exit 1."""
    instance_file.write_text(code)
    result = CliRunner().invoke(
        main, ["users", "list"], env={"DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}"}
    )
    assert result.exit_code == 2
    assert result.output == f"error: invalid configuration:\n  {instance_file}:{problem}\n"


def test_an_instance_file_variable_of_the_wrong_type_is_refused(tmp_path: Path, instance_file: Path) -> None:
    """A list was taken unchecked, and broke every send (a 500 from the API); None broke the start."""
    instance_file.write_text("TESTER_TIMEOUT = [1, 2]\nLOG_LEVEL = None\nPERMANENT_SESSION_LIFETIME = 60\n")
    with pytest.raises(ConfigurationError) as caught:
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'app.db'}"})
    assert caught.value.problems == [
        "TESTER_TIMEOUT: [1, 2] is a list: give the variable's value as text or a number, as in the "
        f"environment (in {instance_file})"
    ]


def test_none_in_the_instance_file_leaves_a_variable_s_default(tmp_path: Path, instance_file: Path) -> None:
    instance_file.write_text("LOG_LEVEL = None\nSEGMENT_WRITE_KEY = None\n")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'app.db'}"})
    assert app.config["LOG_LEVEL"] == "info" and app.config["SEGMENT_WRITE_KEY"] is None


def test_every_line_starts_with_the_variable_it_is_about() -> None:
    with pytest.raises(ConfigurationError) as caught:
        from_environment(
            {"TESTER_TIMEOUT": "900", "AUDIT_ENCRYPTION_KEY": "not-a-key", "TESTER_DESTINATIONS": "{"}
        )
    assert caught.value.problems == [
        "AUDIT_ENCRYPTION_KEY: not Fernet keys (32 url-safe base64-encoded bytes each), separated by commas",
        "TESTER_DESTINATIONS: not valid JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)",
        "TESTER_TIMEOUT: '900' is not a number of seconds above 0 and at most 300",
    ]


def test_the_command_lists_bad_values_and_production_refusals_at_once(tmp_path: Path) -> None:
    """A bad value stopped the start before the production checks ran: one fix, one restart each.
    The dashboard's server checks its secrets with the rest; a command checks those it uses as it
    starts (`users list` uses no SECRET_KEY), so the bad value is all it says here."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "APP_ENV": "production", "SEGMENT_HOST": "collector:5100"}
    env.update(AUDIT_KEYS)
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'p.db'}"
    env.pop("SECRET_KEY", None)
    done = subprocess.run(
        [Path(sys.executable).parent / "event-catalog", "users", "list"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: invalid configuration:",
        "  SEGMENT_HOST: 'collector:5100' is not an http(s) URL, e.g. https://api.segment.io",
    ]
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    served = subprocess.run(
        [sys.executable, "-c", "import webapp.wsgi"], env=env, capture_output=True, text=True
    )
    assert served.returncode == 4
    assert served.stderr.splitlines() == [
        "error: invalid configuration:",
        "  SEGMENT_HOST: 'collector:5100' is not an http(s) URL, e.g. https://api.segment.io",
        f"  {SECRET_LINE}",
    ]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("bogus://x", "bogus://x"),
        ("mysql://root@db/analytics", "mysql://root@db/analytics"),
        ("mysql://root:s3cret@db/analytics", "mysql://root:***@db/analytics"),
    ],
)
def test_a_database_url_of_another_kind_is_a_bad_setting(url: str, shown: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        from_environment({"DATABASE_URL": url, "SECRET_KEY": "fine"})
    assert caught.value.problems == [
        f"DATABASE_URL: {shown!r} is neither SQLite nor PostgreSQL: "
        "expected e.g. postgresql://user@host/db or sqlite:///path"
    ]


def test_db_upgrade_against_an_unreachable_database_is_one_line() -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": "postgresql://nobody:pw@127.0.0.1:1/none"}
    done = subprocess.run(
        [Path(sys.executable).parent / "event-catalog", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    [line] = done.stderr.splitlines()
    assert done.returncode == 2 and line.startswith("error: cannot use the database: connection failed")
    assert "pw" not in line


def test_the_library_refuses_an_unusable_database_in_its_own_errors() -> None:
    """`analytics.init()` raised SQLAlchemy's OperationalError and a ModuleNotFoundError for MySQL."""
    import analytics
    from analytics.errors import AuditDatabaseError

    with pytest.raises(ValueError, match="'mysql://root:\\*\\*\\*@db/x' is neither SQLite nor PostgreSQL"):
        analytics.init(database_url="mysql://root:pw@db/x")
    with pytest.raises(
        AuditDatabaseError, match=r"^the audit database postgresql://nobody@127.0.0.1:1/none cannot"
    ):
        analytics.init(database_url="postgresql://nobody@127.0.0.1:1/none")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["audit", "export", "--format", "yaml"],
            "error: Invalid value for '--format': 'yaml' is not one of 'csv', 'ndjson'; "
            "see `event-catalog audit export --help`",
        ),
        (
            ["audit", "purge", "--before"],
            "error: Option '--before' requires an argument; see `event-catalog audit --help`",
        ),
        (["nosuch"], "error: No such command 'nosuch'; see `event-catalog --help`"),
        (
            ["audit", "export", "--since"],
            "error: Option '--since' requires an argument; see `event-catalog audit --help`",
        ),
        (
            ["export"],
            "error: Missing option '--format'. Choose from: jsonschema, csv, markdown, segment-plan; "
            "see `event-catalog export --help`",
        ),
        # A byte that is not UTF-8 (subprocess passes "\udcff" as the byte 0xff) was a traceback
        # from the first query or print that met it, in every option without a check of its own.
        (
            ["users", "token", "create", "x@example.com", "--name", "a\udcff"],
            "error: Invalid value for '--name': not UTF-8 text (byte 0xff); "
            "see `event-catalog users token create --help`",
        ),
        *(
            (
                ["audit", "export", option, value, "-o", "/dev/null"],
                f"error: Invalid value for '{option}': not UTF-8 text (byte 0xff); "
                "see `event-catalog audit export --help`",
            )
            for option, value in [
                ("--event", "a\udcff"),
                ("--actor", "a\udcff"),
                ("--message-id", "a\udcff"),
                ("--prop", "k=a\udcff"),
            ]
        ),
        (
            ["send", "ProjectCreate", "--scope", "user=1,project=2", "--json", '{"note": "\\ud800"}'],
            "error: not sent: --json: note: text cannot contain a surrogate code point (\\ud800): it is not "
            "Unicode text, and can be neither stored nor sent (was it decoded with surrogateescape?)",
        ),
    ],
)
def test_the_command_line_s_own_refusals_are_one_line(tmp_path: Path, args: list[str], line: str) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    done = subprocess.run(
        [Path(sys.executable).parent / "event-catalog", *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert (done.returncode, done.stderr.splitlines(), done.stdout) == (2, [line], "")


def test_a_path_need_not_be_utf_8(tmp_path: Path) -> None:
    """Text that is not UTF-8 is refused in every text option, but a file name may be any bytes."""
    output = tmp_path / "catalog-\udcff.csv"
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    result = CliRunner().invoke(main, ["export", "--format", "csv", "-o", str(output)], env=env)
    assert result.exit_code == 0, result.output
    assert output.read_text(encoding="utf-8-sig").startswith("event,")


def test_the_command_refuses_to_start_with_bad_settings(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "SEGMENT_HOST": "nope", "PORT": "eighty"}
    done = subprocess.run(
        [Path(sys.executable).parent / "event-catalog", "routes"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: invalid configuration:",
        "  SEGMENT_HOST: 'nope' is not an http(s) URL, e.g. https://api.segment.io",
        "  PORT: 'eighty' is not a port number (1-65535)",
    ]


def test_the_command_names_its_own_version_and_options() -> None:
    from importlib.metadata import version

    runner = CliRunner()
    shown = runner.invoke(main, ["--version"])
    assert shown.exit_code == 0 and shown.output == f"event-catalog {version('event-catalog')}\n"
    usage = runner.invoke(main, ["--help"]).output
    for foreign in ("Show the Flask version", "--app", "--env-file", "--debug", "limiter"):
        assert foreign not in usage, foreign
    assert "  users " in usage and "  db " in usage and "  run " in usage
    missing = runner.invoke(main, ["limiter", "limits"])
    assert missing.exit_code == 2 and "No such command 'limiter'" in missing.output


def test_test_config_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch, app: Flask) -> None:
    monkeypatch.setenv("SEGMENT_HOST", "http://from-env")
    assert create_app({"SEGMENT_HOST": "http://from-test"}).config["SEGMENT_HOST"] == "http://from-test"
    assert create_app().config["SEGMENT_HOST"] == "http://from-env"


def test_db_upgrade_command_creates_the_schema_on_a_fresh_database(tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'host.db'}"})
    runner: FlaskCliRunner = app.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert app.test_client().get("/healthz").status_code == 200


def test_collector_command_fails_in_one_line_when_the_port_is_taken() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["collector", "--port", str(port)])
    assert result.exit_code == 1
    assert result.output.strip().startswith(f"error: cannot listen on 127.0.0.1:{port}")


# GNU find with the regex dialect of BSD's and busybox's (POSIX basic): start.sh's `find -regex`
# took every real metrics file for a foreign one there, and refused every start after the first.
_POSIX_BASIC_FIND = """#!/bin/sh
folder=$1
shift
exec /usr/bin/find "$folder" -regextype posix-basic "$@"
"""


def _is_running(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_start_script_migrates_and_serves_two_gunicorn_workers(tmp_path: Path) -> None:
    """The image's start path, run directly: scripts/start.sh → db upgrade → gunicorn.conf.py.

    A previous run's metrics files are deleted (with a `find` of POSIX regexes on the PATH too, and
    beside the `lost+found` of a volume of their own), and `db upgrade` and `audit partitions ensure`
    leave none of theirs: every file in the folder belongs to a running gunicorn process, where the
    commands' files (their processes ended) were summed into the totals until the next start."""
    import os
    import sys

    import requests

    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "lost+found").mkdir()
    stale = [
        metrics_dir / name
        for name in ("counter_4242.db", "gauge_livesum_4242.db", "histogram_7.db", "summary_12.db")
    ]
    for path in stale:
        path.write_text("")
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "find").write_text(_POSIX_BASIC_FIND)
    (tools / "find").chmod(0o755)
    with running_dashboard(
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.db'}",
        WEB_CONCURRENCY="2",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        PATH=f"{tools}:{Path(sys.executable).parent}:{os.environ['PATH']}",
    ) as base:
        response = requests.get(f"{base}/healthz", timeout=15)
        assert response.status_code == 200
        assert response.json()["database"]["revision"] == SCHEMA_REVISION
        assert response.headers["X-Frame-Options"] == "DENY"
        for _ in range(4):
            home = requests.get(f"{base}/", timeout=15, allow_redirects=False)
            assert (home.status_code, home.headers["Location"]) == (302, "/setup?next=/")
        metrics = requests.get(f"{base}/metrics", timeout=15)
        assert metrics.status_code == 200
        assert (
            'event_catalog_http_request_seconds_count{method="GET",route="/",status="302"} 4.0'
            in metrics.text
        )
        assert not any(path.exists() for path in stale)
        assert (metrics_dir / "lost+found").is_dir()
        files = [path.name for path in metrics_dir.glob("*.db")]
        assert files
        ended = [name for name in files if not _is_running(int(name.removesuffix(".db").rsplit("_", 1)[1]))]
        assert ended == []


def _start_with_metrics_in(folder: Path) -> subprocess.CompletedProcess[str]:
    """scripts/start.sh with PROMETHEUS_MULTIPROC_DIR and the SQLite audit log in `folder`."""
    from webapp import ROOT

    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DATABASE_URL": f"sqlite:///{folder / 'audit.db'}",
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "PORT": "0",
    }
    return subprocess.run(["scripts/start.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "foreign",
    [
        "audit.db",
        "counter_12.db.bak",
        "gauge__12.db",
        "gauge_live_sum_12.db",
        "counter_x.db",
        ".counter_1.db",
    ],
)
def test_the_start_script_refuses_a_metrics_folder_holding_other_files(tmp_path: Path, foreign: str) -> None:
    """start.sh emptied PROMETHEUS_MULTIPROC_DIR with `rm -rf`: pointed at the SQLite audit log's
    folder, it deleted the log, and `db upgrade` then made a new, empty one. Now it refuses the
    folder in one line, before it deletes or migrates anything: any name but prometheus_client's
    own (`counter_<pid>.db`, `gauge_<mode>_<pid>.db`, …) and a volume's `lost+found` folder."""
    other = tmp_path / foreign
    other.write_bytes(b"the audit log")
    (tmp_path / "counter_4242.db").write_text("")
    (tmp_path / "lost+found").mkdir()
    started = _start_with_metrics_in(tmp_path)
    assert (started.returncode, started.stderr) == (
        2,
        f"error: PROMETHEUS_MULTIPROC_DIR: '{tmp_path}' holds '{other}', which is not a "
        "prometheus_client metrics file: give the metrics a folder of their own (nothing in it is deleted)\n",
    )
    assert other.read_bytes() == b"the audit log"
    assert (tmp_path / "counter_4242.db").exists()
    assert (tmp_path / "audit.db").exists() == (foreign == "audit.db")


def test_the_start_script_refuses_a_file_named_lost_found(tmp_path: Path) -> None:
    """Only a volume's `lost+found` folder is passed over: a file of that name is no metrics file."""
    (tmp_path / "lost+found").write_text("")
    started = _start_with_metrics_in(tmp_path)
    assert started.returncode == 2, started.stderr
    assert f"holds '{tmp_path / 'lost+found'}'" in started.stderr
    assert not (tmp_path / "audit.db").exists()


def test_a_missing_metrics_folder_stops_gunicorn_in_one_line(tmp_path: Path) -> None:
    """Started directly, not by scripts/start.sh (which makes the folder): each worker printed a
    FileNotFoundError traceback from the library's metrics, then gunicorn halted."""
    import os
    import subprocess
    import sys

    from webapp import ROOT

    missing = tmp_path / "metrics"
    line = (
        f"  PROMETHEUS_MULTIPROC_DIR: '{missing}' is not a directory: create it, empty, before starting "
        "gunicorn (scripts/start.sh does), or unset it for a single process"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(missing)}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'p.db'}"
    served = subprocess.run(
        [Path(sys.executable).parent / "gunicorn", "--bind", "127.0.0.1:0", "webapp.wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert served.returncode == 4
    assert served.stderr.splitlines()[-2:] == ["error: invalid configuration:", line]
    assert "Traceback" not in served.stderr and "Booting worker" not in served.stderr
    # Without gunicorn.conf.py, each worker stops on the same line.
    loaded = subprocess.run(
        [sys.executable, "-c", "import webapp.wsgi"], env=env, capture_output=True, text=True
    )
    assert (loaded.returncode, loaded.stderr.splitlines()) == (4, ["error: invalid configuration:", line])
    # A command (a one-off `docker run … event-catalog users add`) says it in one line too.
    command = subprocess.run(
        [Path(sys.executable).parent / "event-catalog", "users", "list"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert (command.returncode, command.stderr) == (2, f"error: {line.strip()}\n")


@pytest.mark.parametrize(
    ("app_env", "arguments", "flask_debug", "serves_with_debugger"),
    [
        ("production", ["--debug"], "0", None),
        ("production", ["--debugger", "--no-reload"], "0", None),
        ("production", [], "1", None),
        ("production", [], "0", False),
        ("production", ["--debug", "--no-debugger"], "0", False),
        ("development", ["--debug", "--no-reload"], "0", True),
    ],
)
def test_the_development_server_refuses_its_debugger_in_production(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    app_env: str,
    arguments: list[str],
    flask_debug: str,
    serves_with_debugger: bool | None,
) -> None:
    """`run --debug` under APP_ENV=production served Werkzeug's console: any code, run by a visitor."""
    import flask.cli

    served: list[bool] = []
    monkeypatch.setattr(flask.cli, "run_simple", lambda *_, use_debugger, **__: served.append(use_debugger))
    # `--debug` sets FLASK_DEBUG in this process's environment: put back whatever was there.
    monkeypatch.setenv("FLASK_DEBUG", flask_debug)
    env = {"APP_ENV": app_env, "SECRET_KEY": SECRET_KEY, **AUDIT_KEYS}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'p.db'}"
    result = CliRunner().invoke(main, ["run", *arguments], env=env)
    if serves_with_debugger is None:
        assert (result.exit_code, served) == (2, [])
        assert result.output == (
            "error: APP_ENV=production refuses the debugger (run --debug, --debugger or FLASK_DEBUG=1): "
            "its console runs any code a visitor types; serve with gunicorn (scripts/start.sh)\n"
        )
    else:
        assert (result.exit_code, served) == (0, [serves_with_debugger]), result.output


@pytest.mark.parametrize(
    ("arguments", "environment", "port"),
    [
        ([], {}, 5000),
        ([], {"PORT": "5123"}, 5123),
        (["--port", "5124"], {"PORT": "5123"}, 5124),
        ([], {"PORT": "5123", "FLASK_RUN_PORT": "5125"}, 5125),
    ],
)
def test_the_development_server_listens_on_port(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    arguments: list[str],
    environment: dict[str, str],
    port: int,
) -> None:
    """The configuration table's `PORT` set the image's port, and `run` took 5000 whatever it said."""
    monkeypatch.setenv("FLASK_DEBUG", "0")
    result, served = _run_the_development_server(tmp_path, monkeypatch, arguments, environment)
    assert (result.exit_code, served) == (0, [port]), result.output


def _run_the_development_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arguments: list[str], environment: dict[str, str]
) -> tuple[Result, list[int]]:
    """`event-catalog run` with these arguments and variables (no other PORT or FLASK_RUN_PORT), and
    the ports it would have served on: Werkzeug's server is not started."""
    import flask.cli

    served: list[int] = []
    monkeypatch.setattr(flask.cli, "run_simple", lambda _host, port, *_, **__: served.append(port))
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
        "PORT": None,
        "FLASK_RUN_PORT": None,
        **environment,
    }
    result = CliRunner().invoke(main, ["run", *arguments], env=env, prog_name="event-catalog")
    return result, served


def test_the_development_server_refuses_a_port_that_is_not_one(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}", "PORT": "50x", "FLASK_RUN_PORT": None}
    result = CliRunner().invoke(main, ["run"], env=env)
    assert (result.exit_code, result.output) == (
        2,
        "error: invalid configuration:\n  PORT: '50x' is not a port number (1-65535)\n",
    )


@pytest.mark.parametrize(
    ("arguments", "environment", "value"),
    [(["--port", "-5"], {}, "-5"), (["--port", "70000"], {}, "70000"), ([], {"FLASK_RUN_PORT": "-1"}, "-1")],
)
def test_the_development_server_refuses_a_port_out_of_range_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    arguments: list[str],
    environment: dict[str, str],
    value: str,
) -> None:
    """Flask's --port took any integer: bind() refused -5 with an OverflowError traceback."""
    result, served = _run_the_development_server(tmp_path, monkeypatch, arguments, environment)
    assert (result.exit_code, result.output, served) == (
        2,
        f"error: Invalid value for '--port' / '-p': {value} is not in the range 0<=x<=65535; "
        "see `event-catalog run --help`\n",
        [],
    )


def test_gunicorn_s_own_variables_are_refused_in_one_line_each(tmp_path: Path) -> None:
    """Bad values were tracebacks from inside gunicorn, and WEB_CONCURRENCY=0 a server with no
    worker that took connections and never answered."""
    import os
    import subprocess
    import sys

    from webapp import ROOT

    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    bad = {"WEB_CONCURRENCY": "0", "GUNICORN_THREADS": "abc", "GUNICORN_TIMEOUT": "--"}
    served = subprocess.run(
        ["gunicorn", "--config", "gunicorn.conf.py", "--bind", "127.0.0.1:0", "webapp.wsgi:app"],
        cwd=ROOT,
        env={**env, **bad},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (served.returncode, served.stderr.splitlines()) == (
        4,
        [
            "error: invalid configuration:",
            "  WEB_CONCURRENCY: '0' is not a whole number of 1 or more (gunicorn's worker processes; with "
            "none, nothing answers)",
            "  GUNICORN_THREADS: 'abc' is not a whole number of 1 or more (threads per worker)",
            "  GUNICORN_TIMEOUT: '--' is not a whole number of 0 or more (seconds before a stuck worker is "
            "restarted; 0 never restarts it)",
        ],
    )
    # gunicorn reads WEB_CONCURRENCY as it is imported, before its config file: the start script
    # refuses it first, before it migrates anything.
    started = subprocess.run(
        ["scripts/start.sh"],
        cwd=ROOT,
        env={**env, "WEB_CONCURRENCY": "abc"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (started.returncode, started.stderr.splitlines()[1:]) == (
        4,
        [
            "  WEB_CONCURRENCY: 'abc' is not a whole number of 1 or more (gunicorn's worker processes; "
            "with none, nothing answers)"
        ],
    )
    assert not (tmp_path / "p.db").exists()


def test_gunicorn_refuses_a_chunked_body_over_the_limit(tmp_path: Path) -> None:
    """gunicorn de-chunks a body and marks it terminated: without a Content-Length to check, Werkzeug
    read it cut at 1 MB (the first-run form then lacked its CSRF token: a 400, not a 413)."""
    import requests

    def chunked(size: int) -> Iterator[bytes]:
        yield b"email=ada%40example.com&note="
        for _ in range(size // 65536):
            yield b"x" * 65536

    with running_dashboard(DATABASE_URL=f"sqlite:///{tmp_path / 'prod.db'}", WEB_CONCURRENCY="1") as base:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        large = requests.post(f"{base}/setup", data=chunked(2_000_000), headers=headers, timeout=15)
        assert large.status_code == 413
        assert "The request is larger than the 1 MB a request may carry." in large.text
        small = requests.post(f"{base}/setup", data=chunked(100_000), headers=headers, timeout=15)
        assert small.status_code == 400 and "The form expired" in small.text


def test_actor_is_the_client_address_until_someone_signs_in(app: Flask) -> None:
    from flask import g

    from webapp.actor import current_actor

    with app.test_request_context(environ_base={"REMOTE_ADDR": "10.0.0.7"}):
        assert current_actor() == "anonymous@10.0.0.7"
        g.user = type("User", (), {"name": "ada@example.com"})()
        assert current_actor() == "ada@example.com"


def test_without_database_url_the_dashboard_and_the_library_open_one_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`event-catalog db upgrade` and `analytics.init()` run from one directory must agree (the
    dashboard used its package's instance folder, the library the working directory)."""
    import analytics

    monkeypatch.chdir(tmp_path)
    expected = f"sqlite:///{tmp_path / 'instance' / 'event-catalog.db'}"
    assert analytics.default_database_url() == expected
    assert create_app().config["SQLALCHEMY_DATABASE_URI"] == expected


@pytest.mark.parametrize(
    ("path", "trail"),
    [
        ("/", ["Catalog"]),
        ("/scopes", ["Catalog", "Scopes"]),
        ("/events/ClusterProvisioningSuccess", ["Catalog", "Cluster Provisioning Success"]),
        ("/identifiers/RegisterIdentify", ["Catalog", "Identify calls", "Register"]),
        ("/tester/?event=ClusterProvisioningSuccess", ["Tester", "Cluster Provisioning Success"]),
        ("/tester/history", ["Tester", "History"]),
        ("/audit/", ["Audit log"]),
        ("/audit/replay/", ["Audit log", "Re-send"]),
        ("/users/", ["Users"]),
        ("/account/tokens", ["API tokens"]),
    ],
)
def test_every_breadcrumb_starts_at_the_section_the_main_navigation_names(
    client: FlaskClient, path: str, trail: list[str]
) -> None:
    """One way of reading every trail: its section, the way down, then the page itself (not a link)."""
    page = client.get(path)
    assert page.status_code == 200, path
    html = page.get_data(as_text=True)
    nav = html[html.index('<nav aria-label="Breadcrumb"') :]
    nav = nav[: nav.index("</nav>")]
    crumbs = re.findall(r"<li>(?:<a href=\"[^\"]*\">|<span aria-current=\"page\">)([^<]*)<", nav)
    assert crumbs == trail
    assert nav.count('aria-current="page"') == 1 and nav.count("<a ") == len(trail) - 1


def test_every_code_block_is_drawn_by_the_macro_that_lets_the_keyboard_scroll_it() -> None:
    """A `<pre>` scrolls in its box when its lines are longer: those written by hand (the tester's
    snippets, an event's schema, an entry's message) could not take the focus, so no keyboard could
    scroll to what they cut off. `_code.html` draws each as a focusable, named region."""
    templates = Path(__file__).resolve().parents[1] / "webapp" / "templates"
    by_hand = sorted(
        str(path.relative_to(templates))
        for path in templates.rglob("*.html")
        if "<pre" in path.read_text() and path.name != "_code.html"
    )
    assert by_hand == []
