"""`event-catalog check-code` on fixture projects: one per kind of finding, and a clean one."""

from __future__ import annotations

import ast
import inspect
import json
import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from analytics.catalog import CATALOG, Catalog
from analytics.checkcode import CATALOG_PACKAGE, check_paths
from analytics.spec import SpecRegistry
from webapp.cli import main

CLEAN = """
    import analytics
    from analytics.scopes import ClusterScope
    from analytics.tracks import ClusterProvisioningSuccess

    def on_ready(user, project, cluster):
        analytics.track(
            ClusterProvisioningSuccess(
                scope=ClusterScope(user_id=user, project_id=project, cluster_id=cluster),
                cluster_type="eks",
                infra_id=9,
            )
        )
"""

CASES = {
    "CC001": """
        from analytics.spec import TrackSpec

        class MyOwnEvent(TrackSpec):
            pass
    """,
    "CC002": """
        from segment import analytics as segment_analytics

        segment_analytics.flush()
        segment_analytics.identify(user_id, traits)
    """,
    "CC003": """
        import analytics

        analytics.track("1", "Cluster Exploded", {})
    """,
    "CC004": """
        def send(client):
            client.track(user_id="1", event="Cluster Provisioning Success", properties={"cluster_id": 3})
    """,
}


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return tmp_path


def _only(registry_of: str) -> Catalog:
    """A catalog with just one spec, so CC005 speaks only of it."""
    registry = SpecRegistry()
    registry.tracks.append(CATALOG.event(registry_of).spec)  # type: ignore[arg-type]
    return Catalog(registry)


def test_clean_project_has_no_findings(tmp_path: Path) -> None:
    project = _project(tmp_path, {"app/ready.py": CLEAN})
    assert check_paths([project], catalog=_only("ClusterProvisioningSuccess")).findings == []


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_kind_of_finding_is_reported_with_file_and_line(tmp_path: Path, code: str) -> None:
    project = _project(tmp_path, {"app/ready.py": CLEAN, "app/bad.py": CASES[code]})
    findings = check_paths([project], catalog=_only("ClusterProvisioningSuccess")).findings
    assert [f.code for f in findings] == [code], findings
    assert findings[0].path.endswith("app/bad.py")
    assert findings[0].line > 1


def test_a_scope_defined_outside_the_catalog_is_reported_as_a_spec_is(tmp_path: Path) -> None:
    """A scope an application derives (`class BoardScope(ProjectScope)`) was not reported at all."""
    source = """
        from analytics.scopes import ProjectScope

        class BoardScope(ProjectScope):
            board_id: int
    """
    project = _project(tmp_path, {"app/bad.py": source})
    findings = check_paths([project], catalog=_only("ClusterProvisioningSuccess")).findings
    [finding] = [finding for finding in findings if finding.code == "CC001"]
    assert finding.line == 4
    assert finding.message == (
        "scope BoardScope is defined outside the catalog package; move it to analytics/scopes.py so the "
        "catalog's specs can take it"
    )


def test_a_call_that_takes_the_event_first_or_a_dict_of_properties_is_reported(tmp_path: Path) -> None:
    """`analytics.track("Event", {...})` is the likeliest hand-built call: its event is the first
    argument, and its properties a positional dict."""
    source = """
        import analytics

        analytics.track("Registry Token Exploded", {"registry_id": 3})
        analytics.track("Cluster Provisioning Success", {"cluster_id": 3})
        analytics.track("1", "Cluster Exploded", {})
        analytics.track(user, {"cluster_id": 3})
    """
    project = _project(tmp_path, {"app/ready.py": CLEAN, "app/bad.py": source})
    findings = check_paths([project], catalog=_only("ClusterProvisioningSuccess")).findings
    assert [(f.line, f.code) for f in findings] == [(4, "CC003"), (5, "CC004"), (6, "CC003"), (7, "CC004")]
    assert findings[0].message == '"Registry Token Exploded" is not an event of the catalog'


def test_building_a_deprecated_event_s_spec_names_its_replacement(tmp_path: Path) -> None:
    source = """
        import analytics
        from analytics.tracks import StackLaunchComplete

        analytics.track(StackLaunchComplete(scope=scope, stack_name="web"))
    """
    project = _project(tmp_path, {"app/old.py": source})
    [finding] = check_paths([project], report_unused=False).findings
    assert (finding.line, finding.code) == (5, "CC006")
    assert finding.message == (
        '"Stack Launch Complete" is deprecated: send StackLaunchSuccess(...) ("Stack Launch Success") instead'
    )


def test_raw_segment_client_instance_is_recognised(tmp_path: Path) -> None:
    source = """
        from segment.analytics import Client

        client = Client("key")
        client.track("1", "Stack Build Success", {"stack_name": "web"})
    """
    project = _project(tmp_path, {"app/ready.py": CLEAN, "app/raw.py": source})
    codes = [(f.line, f.code) for f in check_paths([project], report_unused=False).findings]
    assert codes == [(5, "CC002"), (5, "CC004")]


def test_a_segment_client_built_and_called_in_one_expression_is_recognised(tmp_path: Path) -> None:
    """`Client(key).track(...)` was no finding at all: a file of only that passed the CI gate."""
    source = """
        import segment.analytics as segment_analytics
        from segment.analytics import Client

        Client("key").track("1", "No Such Event Sent", {"amount": 3})
        segment_analytics.Client("key").identify("1", {"email": "a@example.com"})
    """
    project = _project(tmp_path, {"app/raw.py": source})
    found = [(f.line, f.code, f.message) for f in check_paths([project], report_unused=False).findings]
    assert found == [
        (
            5,
            "CC002",
            "Client(...).track() calls the Segment client directly; send a spec with analytics.track",
        ),
        (5, "CC003", '"No Such Event Sent" is not an event of the catalog'),
        (
            6,
            "CC002",
            "segment_analytics.Client(...).identify() calls the Segment client directly; "
            "send a spec with analytics.identify",
        ),
        (6, "CC004", "identify() with hand-built properties or traits; build its spec instead"),
    ]


def test_a_direct_identify_call_is_told_to_send_an_identify_spec(tmp_path: Path) -> None:
    project = _project(tmp_path, {"app/bad.py": CASES["CC002"]})
    [finding] = check_paths([project], report_unused=False).findings
    assert (finding.line, finding.code) == (5, "CC002")
    assert finding.message == (
        "segment_analytics.identify() calls the Segment client directly; send a spec with analytics.identify"
    )


def test_the_catalog_package_s_own_calls_to_the_segment_client_are_not_findings() -> None:
    """Its client is the wrapper every application goes through: it has to build the raw calls."""
    assert check_paths([CATALOG_PACKAGE]).findings == []


def test_unused_spec_is_reported_at_its_definition(tmp_path: Path) -> None:
    project = _project(tmp_path, {"app/other.py": "print('no analytics here')\n"})
    [finding] = check_paths([project], catalog=_only("ClusterProvisioningSuccess")).findings
    assert finding.code == "CC005"
    assert finding.path.endswith("analytics/tracks.py")
    assert "ClusterProvisioningSuccess" in finding.message


def test_unused_specs_read_each_catalog_file_once(
    tmp_path: Path, count_calls: Callable[..., list[Any]]
) -> None:
    """CC005 once parsed the whole of tracks.py per unused spec (inspect.getsourcelines): minutes at 300
    specs. The parses are counted, not timed: one per scanned file and one per catalog source file."""
    project = _project(tmp_path, {"app/other.py": "print('no analytics here')\n"})
    parsed = count_calls(ast, "parse")
    findings = check_paths([project]).findings
    specs = [*CATALOG.registry.tracks, *CATALOG.registry.identifiers]
    spec_files = {inspect.getsourcefile(spec) for spec in specs}
    assert len([f for f in findings if f.code == "CC005"]) == len(specs) > len(spec_files)
    assert len(parsed) == 1 + len(spec_files)


def test_unused_specs_are_reported_at_the_line_inspect_gives(tmp_path: Path) -> None:
    project = _project(tmp_path, {"app/other.py": "print('no analytics here')\n"})
    lines = {f.message.split()[1]: f.line for f in check_paths([project]).findings}
    specs = [*CATALOG.registry.tracks, *CATALOG.registry.identifiers]
    assert lines == {spec.__name__: inspect.getsourcelines(spec)[1] for spec in specs}


def test_a_mistyped_event_string_is_told_the_close_event(tmp_path: Path) -> None:
    """Among 300 events a typo was only "not an event of the catalog"."""
    source = 'import analytics\n\nanalytics.track("1", "Clustr Provisioning Success", {})\n'
    project = _project(tmp_path, {"app/typo.py": source})
    [finding] = check_paths([project], report_unused=False).findings
    assert finding.message == (
        '"Clustr Provisioning Success" is not an event of the catalog; '
        'did you mean "Cluster Provisioning Success"?'
    )


def test_suppression_comments_silence_one_code_or_all(tmp_path: Path) -> None:
    source = """
        import analytics

        analytics.track("1", "Cluster Exploded", {})  # check-code: ignore[CC003]
        analytics.track("1", "Cluster Imploded", {})  # check-code: ignore[CC004]
        analytics.track("1", "Cluster Melted", {})  # check-code: ignore
    """
    project = _project(tmp_path, {"app/ready.py": CLEAN, "app/bad.py": source})
    findings = check_paths([project], catalog=_only("ClusterProvisioningSuccess")).findings
    assert [(f.line, f.code) for f in findings] == [(5, "CC003")]


def test_virtualenvs_and_excluded_globs_are_skipped(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        {"app/ready.py": CLEAN, ".venv/lib/x.py": CASES["CC003"], "app/generated/x.py": CASES["CC003"]},
    )
    checked = check_paths([project], catalog=_only("ClusterProvisioningSuccess"), exclude=["*/generated/*"])
    assert checked.findings == []
    # A folder's or a file's name alone, or the path under the scanned folder, however it was named.
    for pattern in ("generated", "x.py", "app/generated/*"):
        for root in (project, project / "app" / "..", Path(os.path.relpath(project))):
            checked = check_paths([root], catalog=_only("ClusterProvisioningSuccess"), exclude=[pattern])
            assert checked.findings == [], (pattern, root)


def test_command_prints_one_line_per_finding_and_exits_one(tmp_path: Path) -> None:
    project = _project(tmp_path, {"app/bad.py": CASES["CC003"]})
    result = CliRunner().invoke(main, ["check-code", str(project), "--exclude", "*/tracks.py"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].endswith('app/bad.py:4: CC003 "Cluster Exploded" is not an event of the catalog')


def test_command_json_and_markdown_formats(tmp_path: Path) -> None:
    project = _project(tmp_path, {"app/bad.py": CASES["CC004"]})
    as_json = CliRunner().invoke(
        main, ["check-code", str(project / "app"), "--format", "json", "--no-unused"]
    )
    assert as_json.exit_code == 1
    body = json.loads(as_json.output)
    assert body["ok"] is False and body["findings"][0]["code"] == "CC004"
    as_markdown = CliRunner().invoke(
        main, ["check-code", str(project / "app"), "--format", "markdown", "--no-unused"]
    )
    assert as_markdown.output.startswith("### Analytics calls") and "| `CC004` |" in as_markdown.output


def test_command_says_ok_and_exits_zero_on_a_clean_project(tmp_path: Path) -> None:
    """It printed nothing, which reads in CI like a command that did nothing; `lint` says ok."""
    project = _project(tmp_path, {"app/ready.py": CLEAN, "app/other.py": "x = 1\n"})
    result = CliRunner().invoke(main, ["check-code", str(project), "--no-unused"])
    assert result.exit_code == 0
    assert result.output == "ok: 2 Python files checked, every analytics call goes through a catalog spec\n"
    as_json = CliRunner().invoke(main, ["check-code", str(project), "--no-unused", "--format", "json"])
    assert as_json.exit_code == 0 and json.loads(as_json.output)["ok"] is True


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"bad.py": "def broken(:\n"}, "bad.py:1: invalid syntax"),
        ({}, "no such file or directory"),
    ],
)
def test_command_reports_unreadable_input_in_one_line(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    target = _project(tmp_path, files) if files else tmp_path / "missing"
    result = CliRunner().invoke(main, ["check-code", str(target)])
    assert result.exit_code == 2
    assert expected in result.output and len(result.output.strip().splitlines()) == 1


def test_a_coding_cookie_is_read_as_python_reads_it(tmp_path: Path) -> None:
    source = '# -*- coding: latin-1 -*-\nimport analytics\n\nanalytics.track("1", "Café Exploded", {})\n'
    (tmp_path / "latin.py").write_bytes(source.encode("latin-1"))
    result = CliRunner().invoke(main, ["check-code", str(tmp_path), "--no-unused"])
    assert result.exit_code == 1, result.output
    assert result.stdout.endswith('latin.py:4: CC003 "Café Exploded" is not an event of the catalog\n')


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (b'x = "caf\xe9"\n', ":1: (unicode error) 'utf-8' codec can't decode byte 0xe9"),
        (b'# coding: ascii\nx = "caf\xe9"\n', ": 'ascii' codec can't decode byte 0xe9"),
        (b"x = 1\n\x00\n", ":2: source code cannot contain null bytes"),
    ],
)
def test_a_file_python_cannot_decode_is_one_line_naming_it(
    tmp_path: Path, source: bytes, expected: str
) -> None:
    target = tmp_path / "undecodable.py"
    target.write_bytes(source)
    result = CliRunner().invoke(main, ["check-code", str(tmp_path)])
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {target}{expected}"), line
    assert result.stdout == ""
