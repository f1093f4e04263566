"""Application code type-checks against the library as the README says it does.

The package ships `py.typed`, so an application's mypy reads the specs' annotations. These tests run
mypy on the code the README and the package docstring tell people to copy, and on the mistakes the
README says mypy finds (and the one it says mypy cannot find), under both set-ups it names: plain
mypy, and the `pydantic.mypy` plugin with `init_typed = true`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

import analytics
from webapp import ROOT

# An application's own mypy configuration: nothing about the library, which mypy finds installed (the
# checkout's editable install, in setuptools' compat mode as `make install` makes it) and reads silently.
SET_UPS = {
    "plain": "[mypy]\nstrict = True\n",
    "pydantic plugin": "[mypy]\nstrict = True\nplugins = pydantic.mypy\n[pydantic-mypy]\ninit_typed = True\n",
}

# Each line marked `# found` must be an error, and only those: the README's list of what mypy finds.
MISTAKES = """\
from enum import StrEnum

import analytics
from analytics.identifiers import RegisterIdentify
from analytics.scopes import ClusterScope, ProjectScope, UserScope
from analytics.spec import Category, SpecRegistry, Team, TrackSpec
from analytics.tracks import ClusterKind, ClusterProvisioningSuccess

scope = ClusterScope(user_id=1, project_id=2, cluster_id=3)
project = ProjectScope(user_id=1, project_id=2)
ClusterProvisioningSuccess(scope=scope, cluster_type="eks", infra_id=9)  # found
ClusterProvisioningSuccess(scope=project, cluster_type=ClusterKind.EKS, infra_id=9)  # found
ClusterProvisioningSuccess(scope=scope, cluster_type=ClusterKind.EKS, infra_id="9")  # found
ClusterProvisioningSuccess(scope=scope, cluster_type=ClusterKind.EKS, infra_id=9, colour="red")  # found
analytics.track("Cluster Provisioning Success")  # found
analytics.track(RegisterIdentify(scope=UserScope(user_id=1), email="ada@example.com"))  # found
analytics.identify(ClusterProvisioningSuccess(scope=scope, cluster_type=ClusterKind.EKS, infra_id=1))  # found
spec = ClusterProvisioningSuccess(scope=scope, cluster_type=ClusterKind.EKS, infra_id=9)
analytics.track(spec, propertes={"a": 1})  # found
analytics.track(spec, timestamp="2026-03-01")  # found
analytics.track(spec, context={"ip": "203.0.113.7", "locale": "de-DE"}, message_id="order-17", test=True)
# What only the runtime refuses, when the spec is built: a required property left out, an id of 0.
ClusterProvisioningSuccess(scope=scope, cluster_type=ClusterKind.EKS)
ClusterScope(user_id=0, project_id=2, cluster_id=3)
# Nor a spec's class arguments: mypy skips a class statement's keywords under pydantic's metaclass.
class OtherEvent(StrEnum):
    ThingDo = "Thing Done"
class ThingDo(
    TrackSpec, event=OtherEvent.ThingDo, category=Category.APPS, owner=Team.GROWTH, registry=SpecRegistry()
):
    scope: UserScope
"""


def _readme_samples() -> list[str]:
    """The README's Python blocks that use the library: the code people copy into an application."""
    blocks = re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(), re.DOTALL | re.MULTILINE)
    return [block for block in blocks if "import analytics" in block]


def _docstring_sample() -> str:
    """The package docstring's example, which `help(analytics)` shows."""
    assert analytics.__doc__ is not None
    return textwrap.dedent(analytics.__doc__.split("::\n", 1)[1])


@pytest.fixture(scope="module", params=SET_UPS)
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One mypy run per set-up over the samples and the mistakes, as an application's own modules
    (a run reads the library and its dependencies afresh: seconds each)."""
    folder = tmp_path_factory.mktemp("application")
    samples = {f"readme_{n}.py": sample for n, sample in enumerate(_readme_samples())}
    assert samples, "the README has no Python sample that uses the library"
    sources = {**samples, "docstring.py": _docstring_sample(), "mistakes.py": MISTAKES}
    for name, source in sources.items():
        (folder / name).write_text(source)
    (folder / "mypy.ini").write_text(SET_UPS[request.param])
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--no-error-summary", *sources],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    assert checked.stderr == "", checked.stderr
    return checked.stdout


def test_the_samples_people_copy_type_check(report: str) -> None:
    """The README's sample once passed `"eks"` for an enum property: right at runtime, a mypy error."""
    assert [line for line in report.splitlines() if not line.startswith("mistakes.py:")] == []


def test_mypy_finds_what_the_readme_says_and_only_that(report: str) -> None:
    flagged = {int(line) for line in re.findall(r"^mistakes\.py:(\d+): error:", report, re.MULTILINE)}
    expected = {n for n, line in enumerate(MISTAKES.splitlines(), start=1) if line.endswith("# found")}
    assert flagged == expected, report
