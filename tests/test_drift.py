"""`event-catalog drift` on seeded audit rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import Engine

from analytics.audit import AuditStatus, AuditStore
from analytics.catalog import CATALOG
from analytics.drift import drift
from analytics.messages import build_message
from analytics.payload_drift import drift_of
from analytics.spec import Status


def _record(
    store: AuditStore, constant: str, *, source: str = "application", **changes: Any
) -> dict[str, Any]:
    info = CATALOG.identifier(constant) if constant.endswith("Identify") else CATALOG.event(constant)
    message = build_message(info.example_spec())
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if name:
            message[section] = {**message[section], name: value}
        else:
            message[key] = value
    store.record(message, status=AuditStatus.DELIVERED, source=source, personal_data_keys={"email"})
    return message


@pytest.fixture
def seeded(store: AuditStore) -> AuditStore:
    _record(store, "ProjectCreate")
    _record(store, "ClusterDelete")
    _record(store, "UserCreate")
    _record(store, "StackBuildSuccess", source="tester")
    _record(store, "ProjectCreate", event="Cluster Exploded", source="tester")
    _record(
        store,
        "ClusterProvisioningSuccess",
        properties__infra_id="nine",
        context={"eventCatalog": {"version": "old123"}},
    )
    _record(store, "RegisterIdentify", traits__github="maybe")
    # A call built by a spec declared outside the catalog (an application's own IdentifySpec).
    _record(store, "RegisterIdentify", context={"eventCatalog": {"spec": "BoardlySignup", "version": "b355"}})
    return store


def _kinds(findings: list[Any]) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    for finding in findings:
        grouped.setdefault(finding.kind, set()).add(finding.subject)
    return grouped


def test_each_category_is_found(seeded: AuditStore, engine: Engine) -> None:
    kinds = _kinds(drift(engine, since=timedelta(days=30)))
    assert "New Project Event" not in kinds["never-sent"]
    assert "Stack Build Success" in kinds["never-sent"], "tester sends must not count as traffic"
    assert "stale" not in kinds
    assert kinds["unknown-event"] == {"Cluster Exploded"}
    assert kinds["unknown-identify"] == {"identify BoardlySignup"}
    assert kinds["invalid-payload"] == {
        "Cluster Provisioning Success @ old123",
        f"Register @ {CATALOG.version}",
    }


def test_an_unknown_event_names_every_version_that_sent_it(store: AuditStore, engine: Engine) -> None:
    """It named one version (the largest hash, not even the newest) for messages of several."""
    gone = {"event": "Cluster Upgrade Started"}
    for version, times in (("aaa111", 2), ("bbb222", 3)):
        for _ in range(times):
            _record(store, "ProjectCreate", **gone, context={"eventCatalog": {"version": version}})
    _record(store, "ProjectCreate", event="Cluster Exploded", context={"eventCatalog": {"version": "ccc333"}})
    unknown = {
        f.subject: f.message for f in drift(engine, since=timedelta(days=1)) if f.kind == "unknown-event"
    }
    assert unknown == {
        "Cluster Upgrade Started": (
            "5 sent in the window, not in today's catalog (versions aaa111: 2, bbb222: 3)"
        ),
        "Cluster Exploded": "1 sent in the window, not in today's catalog (version ccc333)",
    }


def test_an_identify_call_of_an_unknown_spec_names_every_version_that_sent_it(
    store: AuditStore, engine: Engine
) -> None:
    """Identify entries have no event string, so the unknown-event pass never saw them: a call built
    by a spec today's catalog does not know (declared in an application, or since removed) went
    unreported. The spec's class name is in the catalog marker; a call with none is reported too."""
    for version, times in (("aaa111", 2), ("bbb222", 1)):
        for _ in range(times):
            _record(
                store,
                "RegisterIdentify",
                context={"eventCatalog": {"spec": "BoardlySignup", "version": version}},
            )
    _record(store, "RegisterIdentify", context={})
    _record(store, "RegisterIdentify")
    _record(store, "LoginIdentify", context={"eventCatalog": {"spec": "Login", "version": "ccc333"}})
    unknown = {
        f.subject: (f.message, f.owner)
        for f in drift(engine, since=timedelta(days=1))
        if f.kind == "unknown-identify"
    }
    assert unknown == {
        "identify BoardlySignup": (
            "3 sent in the window, not in today's catalog (versions aaa111: 2, bbb222: 1)",
            None,
        ),
        "identify without a spec": ("1 sent in the window, not in today's catalog (version unknown)", None),
    }


def test_a_deprecated_event_is_a_finding_when_sent_not_when_unsent(store: AuditStore, engine: Engine) -> None:
    """Unsent is what a deprecation wants; still sent by an application is the finding."""
    assert "Stack Launch Complete" not in _kinds(drift(engine, since=timedelta(days=30))).get(
        "never-sent", set()
    )
    _record(store, "StackLaunchComplete")
    [finding] = [f for f in drift(engine, since=timedelta(days=30)) if f.kind == "deprecated-sent"]
    assert (finding.subject, finding.message) == (
        "Stack Launch Complete",
        "deprecated, still sent by an application (1 in the last 7 days): send Stack Launch Success instead",
    )


def test_masked_personal_data_is_not_drift(seeded: AuditStore, engine: Engine) -> None:
    subjects = {f.subject for f in drift(engine, since=timedelta(days=30))}
    assert not any(subject.startswith("New User @") for subject in subjects)


def test_a_tester_s_deliberate_off_schema_send_is_not_drift(store: AuditStore, engine: Engine) -> None:
    """It never validated (the tester marked it), so it did not drift since; the same payload
    without the mark did."""
    marker = {**build_message(CATALOG.event("ProjectCreate").example_spec())["context"]["eventCatalog"]}
    experiment = {"eventCatalog": {**marker, "offSchema": True}}
    _record(store, "ProjectCreate", source="tester", properties__surprise=1, context=experiment)
    assert "invalid-payload" not in _kinds(drift(engine, since=timedelta(days=30)))
    _record(store, "ProjectCreate", properties__surprise=1)
    assert _kinds(drift(engine, since=timedelta(days=30)))["invalid-payload"] == {
        f"New Project Event @ {CATALOG.version}"
    }


def test_staleness_uses_each_events_own_threshold(seeded: AuditStore, engine: Engine) -> None:
    later = datetime.now(UTC) + timedelta(days=40)
    kinds = _kinds(drift(engine, since=timedelta(days=30), now=later))
    assert "New Project Event" in kinds["stale"], "30-day default threshold"
    assert "Cluster Deleted" not in kinds["stale"], "declares 90 days"
    much_later = datetime.now(UTC) + timedelta(days=100)
    assert "Cluster Deleted" in _kinds(drift(engine, since=timedelta(days=30), now=much_later))["stale"]


def test_the_window_limits_unknown_events_and_payload_checks(seeded: AuditStore, engine: Engine) -> None:
    later = datetime.now(UTC) + timedelta(days=40)
    kinds = _kinds(drift(engine, since=timedelta(days=30), now=later))
    assert not {"unknown-event", "unknown-identify", "invalid-payload"} & set(kinds)


def test_command_prints_findings_and_exits_one(seeded: AuditStore, database_url: str) -> None:
    from webapp import create_app
    from webapp.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    runner: FlaskCliRunner = app.test_cli_runner()
    result = runner.invoke(args=["drift", "--since", "7d", "--format", "json"])
    markdown = runner.invoke(args=["drift", "--format", "markdown"])
    with app.app_context():
        db.engine.dispose()
    assert result.exit_code == 1
    body = json.loads(result.output)
    assert {f["code"] for f in body["findings"]} == {
        "never-sent",
        "unknown-event",
        "unknown-identify",
        "invalid-payload",
    }
    assert (
        markdown.output.startswith("### Catalog drift")
        and "| `unknown-event` | Cluster Exploded |" in markdown.output
        and "| `unknown-identify` | identify BoardlySignup |" in markdown.output
    )


def test_command_rejects_a_bad_window_in_one_line(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["drift", "--since", "soon"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: --since: 'soon' is not a duration: use a positive number and a unit, like 15m, 24h, 30d or 2w"
    )


def test_an_identify_call_no_application_made_is_never_sent(store: AuditStore, engine: Engine) -> None:
    """A spec for a sign-up that no code calls is a gap in the tracking plan, as an unsent event is;
    the tester's call proves only that it can be built."""
    _record(store, "RegisterIdentify")
    _record(store, "LoginIdentify", source="tester")
    never = {f.subject: f.message for f in drift(engine, since=timedelta(days=30)) if f.kind == "never-sent"}
    assert never["identify Login"] == "never called by an application"
    assert "identify Profile update" in never and "identify Register" not in never


def _invoke_drift(database_url: str, *args: str) -> Any:
    from webapp import create_app
    from webapp.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    result = app.test_cli_runner().invoke(args=["drift", *args])
    with app.app_context():
        db.engine.dispose()
    return result


def test_a_team_gates_its_own_specs(seeded: AuditStore, database_url: str) -> None:
    """Another team's unsent events failed every team's CI for good; unknown events, which no spec
    owns, belong to no team's gate."""
    result = _invoke_drift(database_url, "--owner", "Identity", "--format", "json")
    assert result.exit_code == 1, result.output
    subjects = {(f["code"], f["where"]) for f in json.loads(result.output)["findings"]}
    assert subjects == {
        ("never-sent", "identify Login"),
        ("never-sent", "identify Profile update"),
        ("invalid-payload", f"Register @ {CATALOG.version}"),
    }
    apps = _invoke_drift(database_url, "--category", "apps", "--format", "json")
    apps_events = {info.name for info in CATALOG.events.values() if info.spec.category == "Apps"}
    reported = {f["where"] for f in json.loads(apps.output)["findings"]}
    assert "Stack Build Success" in reported and reported <= apps_events
    sent = _invoke_drift(database_url, "--event", "New Project Event", "--event", "ClusterDelete")
    assert (sent.exit_code, sent.output) == (
        0,
        "ok: 2 events and 0 identify calls checked, no drift\n",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--event", "Cluster Exploded"],
            "--event: 'Cluster Exploded' is neither an event nor an identify call",
        ),
        (["--owner", "nobody"], "Invalid value for '--owner': 'nobody' is not one of"),
    ],
)
def test_a_scope_that_names_nothing_is_refused(runner: FlaskCliRunner, args: list[str], message: str) -> None:
    """A typo must not turn a team's gate into one that reports nothing, and exits 0."""
    result = runner.invoke(args=["drift", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_team_named_by_a_plain_string_gates_its_own_specs(
    runner: FlaskCliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--owner` was a choice of `Team` members: a team declared as `owner="sre"` could not gate its
    own specs. It takes any owner a spec declares, case aside."""
    from types import SimpleNamespace

    from webapp import cli

    monkeypatch.setattr(cli, "CATALOG", SimpleNamespace(owners=lambda: ["growth", "sre"]))
    assert cli._known_owner("SRE") == "sre"
    refused = runner.invoke(args=["drift", "--owner", "nobody"])
    assert refused.exit_code == 2
    assert "Invalid value for '--owner': 'nobody' is not one of 'growth', 'sre'." in refused.output


def test_a_category_given_as_a_plain_string_gates_its_own_specs(
    seeded: AuditStore, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--category` was a choice of `Category` members: a category the import wrote as a string
    (`category="Commerce"`), which lint accepts and the list shows, was refused (exit 2). It takes
    any category a spec declares, case aside."""
    monkeypatch.setattr(CATALOG.event("ClusterDelete").spec, "category", "Commerce")
    result = _invoke_drift(database_url, "--category", "commerce", "--format", "json")
    assert result.exit_code in (0, 1), result.output
    assert {f["where"] for f in json.loads(result.output)["findings"]} <= {"Cluster Deleted"}
    text = _invoke_drift(database_url, "--category", "Commerce")
    assert text.output.endswith("1 event and 0 identify calls checked, no drift\n"), text.output
    refused = _invoke_drift(database_url, "--category", "Shopping")
    assert refused.exit_code == 2
    assert "Invalid value for '--category': 'Shopping' is not one of 'Onboarding'," in refused.output
    assert "'Identity', 'Commerce'." in refused.output


def test_a_deprecated_identify_call_is_reported_while_called_never_as_never_sent(
    store: AuditStore, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deprecated identify call was reported never-sent once applications stopped making it (what
    deprecating it asked for), and its calls went unreported: drift read a replacement only track
    specs have."""
    login = CATALOG.identifier("Login").spec
    monkeypatch.setattr(login, "status", Status.DEPRECATED)

    assert "identify Login" not in {f.subject for f in drift(engine, since=timedelta(days=30))}

    _record(store, "LoginIdentify")
    [finding] = [f for f in drift(engine, since=timedelta(days=30)) if f.subject == "identify Login"]
    assert (finding.kind, finding.message) == (
        "deprecated-sent",
        "deprecated, still sent by an application (1 in the last 7 days)",
    )


def test_a_payload_sent_again_is_validated_once(
    store: AuditStore, engine: Engine, count_calls: Callable[..., list[Any]]
) -> None:
    """Each entry was decoded whole and validated (50 µs of CPU each, a minute at a million entries);
    the same properties sent again keep their verdict, so repeated traffic costs a lookup."""
    model = CATALOG.event("ProjectCreate").spec.payload_model()
    validated = count_calls(model, "model_validate_json")
    for _ in range(3):
        _record(store, "ProjectCreate", properties__surprise=1)
        _record(store, "ProjectCreate")
    findings = [f for f in drift(engine, since=timedelta(days=1)) if f.kind == "invalid-payload"]
    assert [(f.subject, f.message) for f in findings] == [
        (
            f"New Project Event @ {CATALOG.version}",
            "3 stored payload(s) no longer validate; first: surprise: not a property of this event today",
        )
    ]
    assert len(validated) == 2


@pytest.mark.parametrize("stored", [None, {}, []])
def test_a_payload_that_is_not_an_object_is_judged_as_the_entry_page_judges_it(
    store: AuditStore, engine: Engine, stored: Any
) -> None:
    """The run reads the payload's JSON text from the database, the entry page the message decoded:
    absent, null or empty, the properties are judged as none, missing what today's spec requires."""
    message = _record(
        store, "ProjectCreate", properties=stored, context={"eventCatalog": {"offSchema": False}}
    )
    [finding] = [f for f in drift(engine, since=timedelta(days=1)) if f.kind == "invalid-payload"]
    assert finding.subject == "New Project Event @ unknown" or finding.subject.startswith(
        "New Project Event @"
    )
    assert finding.message.endswith(f"first: {drift_of(message).first_problem}")
