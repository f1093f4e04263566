"""Specs and scopes an application defines in its own module, outside the catalog package.

Such a class joined the shipped registry in that process alone: the application recorded a catalog
version of its own, and the dashboard's Changes page then reported the application's events as
removed. Now it warns (`ForeignSpecWarning`) and joins no registry unless it is given one, as the
tests' own specs are; it can still be sent, and is audited under the catalog's version.
"""

from __future__ import annotations

import linecache
import os
import subprocess
import sys
import types
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import Engine, select

from analytics.audit import AuditEntry, CatalogVersion
from analytics.catalog import CATALOG, Catalog, personal_paths
from analytics.catalog_package import ForeignSpecWarning
from analytics.collector import Collector
from analytics.events import SegmentEvent
from analytics.scopes import SCOPES, ProjectScope, ScopeRegistry
from analytics.spec import REGISTRY, Category, IdentifySpec, SpecRegistry, Team, TrackSpec, prop


class _BoardEvent(StrEnum):
    BoardCreateStart = "Board Create Started"


def test_a_track_spec_defined_outside_the_catalog_warns_at_its_class_line_and_joins_no_registry() -> None:
    tracks = list(REGISTRY.tracks)
    with pytest.warns(ForeignSpecWarning) as caught:

        class BoardCreateStarted(
            TrackSpec, event=_BoardEvent.BoardCreateStart, category=Category.ONBOARDING, owner=Team.GROWTH
        ):
            """A user started creating a board."""

            template: str = prop("Template picked.", example="kanban")

    [warning] = caught.list
    assert str(warning.message) == (
        f"track spec BoardCreateStarted is defined in {__name__}, outside the catalog package (analytics): "
        "the catalog does not hold it, so lint, personal-data checks, the dashboard and the recorded "
        "catalog version do not know it. Declare it in analytics/tracks.py of your fork of the catalog."
    )
    assert warning.filename == __file__
    assert linecache.getline(__file__, warning.lineno).strip() == "class BoardCreateStarted("
    assert REGISTRY.tracks == tracks
    assert Catalog(REGISTRY).version == CATALOG.version


def test_an_identify_spec_and_a_scope_defined_outside_the_catalog_warn_too() -> None:
    identifiers, scopes = list(REGISTRY.identifiers), SCOPES.ordered()
    identify_warning = r"^identify spec BoardlySignup .* in analytics/identifiers\.py"
    with pytest.warns(ForeignSpecWarning, match=identify_warning):

        class BoardlySignup(IdentifySpec, name="Boardly signup", owner=Team.IDENTITY):
            """A user signed up to Boardly."""

    with pytest.warns(ForeignSpecWarning, match=r"^scope BoardScope .* in analytics/scopes\.py"):

        class BoardScope(ProjectScope):
            """A user acting on a board."""

            label: ClassVar[str] = "Board"
            description: ClassVar[str] = "Something that happened to a board."

    assert REGISTRY.identifiers == identifiers
    assert SCOPES.ordered() == scopes


def test_a_class_given_a_registry_of_its_own_joins_it_without_a_warning() -> None:
    """As the tests' specs and scopes are (pytest turns any warning into an error)."""
    specs, scopes = SpecRegistry(), ScopeRegistry()

    class BoardScope(ProjectScope, registry=scopes):
        """A user acting on a board."""

        label: ClassVar[str] = "Board"
        description: ClassVar[str] = "Something that happened to a board."

    class BoardCreateStarted(
        TrackSpec,
        event=_BoardEvent.BoardCreateStart,
        category=Category.ONBOARDING,
        owner=Team.GROWTH,
        registry=specs,
    ):
        """A user started creating a board."""

        scope: BoardScope

    assert specs.tracks == [BoardCreateStarted]
    assert scopes.defined == [BoardScope]
    assert BoardScope not in SCOPES.defined


_APPLICATION = """
from enum import StrEnum
from typing import ClassVar

import analytics
from analytics.scopes import ProjectScope
from analytics.spec import Category, IdentifySpec, Team, TrackSpec, prop


class BoardlyEvent(StrEnum):
    BoardCreateStart = "Board Create Started"


class BoardScope(ProjectScope):
    \"\"\"A user acting on a board.\"\"\"

    label: ClassVar[str] = "Board"
    description: ClassVar[str] = "Something that happened to a board."


class BoardCreateStarted(
    TrackSpec, event=BoardlyEvent.BoardCreateStart, category=Category.ONBOARDING, owner=Team.GROWTH
):
    \"\"\"A user started creating a board.\"\"\"

    scope: BoardScope
    template: str = prop("Template picked.", example="kanban")
    share_email: str = prop("Shared with.", example="a@b.c")


class BoardlySignup(IdentifySpec, name="Boardly signup", owner=Team.IDENTITY):
    \"\"\"A user signed up to Boardly.\"\"\"


analytics.init("key", host={host!r}, database_url={database_url!r}, sync_mode=True)
try:
    scope = BoardScope(user_id=1, project_id=2)
    analytics.track(BoardCreateStarted(scope=scope, template="kanban", share_email="dave@example.com"))
finally:
    analytics.shutdown()
"""


def test_an_application_s_own_specs_leave_the_recorded_catalog_version_alone(
    tmp_path: Path, database_url: str, engine: Engine, collector: Collector
) -> None:
    """The adopter's walk: an application module declared its events, recorded a catalog version of its
    own, and the dashboard's Changes page said they had been removed. Its event is still sent and
    audited, under the catalog's version: the dashboard reports it as not in the catalog."""
    script = tmp_path / "boardly_events.py"
    script.write_text(_APPLICATION.format(host=collector.url, database_url=database_url), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, "APP_ENV": "development"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    with engine.connect() as connection:
        assert connection.execute(select(CatalogVersion.version)).scalars().all() == [CATALOG.version]
        columns = AuditEntry.event, AuditEntry.catalog_version, AuditEntry.payload
        entry = connection.execute(select(*columns)).one()
    assert (entry.event, entry.catalog_version) == ("Board Create Started", CATALOG.version)
    assert entry.payload["properties"]["share_email"].startswith("masked:")
    warned = [line for line in done.stderr.splitlines() if "ForeignSpecWarning" in line]
    assert [line.split(": ForeignSpecWarning: ")[1].split(" is defined")[0] for line in warned] == [
        "scope BoardScope",
        "track spec BoardCreateStarted",
        "identify spec BoardlySignup",
    ]
    assert warned[1].startswith(f"{script}:21: ")
    [sent] = collector.received()
    assert sent["event"] == "Board Create Started"
    assert sent["context"]["eventCatalog"]["version"] == CATALOG.version
    assert sent["properties"]["share_email"] == "dave@example.com"


def test_a_spec_outside_the_catalog_has_its_properties_named_like_personal_data_masked() -> None:
    """No `lint` reads it to ask for `personal_data=True` (EC013): an application's unmarked
    `share_email` was stored in the clear."""
    with pytest.warns(ForeignSpecWarning):

        class BoardShareSuccess(
            TrackSpec, event=_BoardEvent.BoardCreateStart, category=Category.ONBOARDING, owner=Team.GROWTH
        ):
            """A user shared a board."""

            share_email: str = prop("Shared with.", example="a@b.c")
            phone: str = prop("Their phone.", example="+33 1 23 45 67 89", personal_data=True)
            template: str = prop("Template picked.", example="kanban")

    payload = {"share_email": "dave@example.com", "phone": "+33 1", "template": "kanban"}
    assert personal_paths(BoardShareSuccess, payload, from_spec=True) == {"share_email", "phone"}
    assert personal_paths(BoardShareSuccess, payload) == {"share_email", "phone"}


def test_a_spec_in_a_registry_keeps_its_own_word_on_personal_data() -> None:
    class BoardShareSuccess(
        TrackSpec,
        event=_BoardEvent.BoardCreateStart,
        category=Category.ONBOARDING,
        owner=Team.GROWTH,
        registry=SpecRegistry(),
    ):
        """A user shared a board."""

        share_email: str = prop("Shared with.", example="a@b.c")

    assert personal_paths(BoardShareSuccess, {"share_email": "dave@example.com"}, from_spec=True) == set()


class _OwnNames(StrEnum):
    """An application's own enum that spells one of the catalog's event strings."""

    ProjectCreate = "New Project Event"


@pytest.mark.parametrize("event", [SegmentEvent.ProjectCreate, _OwnNames.ProjectCreate])
def test_a_track_spec_outside_the_catalog_for_one_of_its_events_is_refused(event: StrEnum) -> None:
    """It sent the catalog's event string with a schema of its own, which the audit log, `drift` and
    the event's page mixed with the catalog's under one name; no `lint` reads it to say so (EC009)."""
    tracks = list(REGISTRY.tracks)
    with pytest.raises(TypeError) as refused:

        class MyProjectCreate(TrackSpec, event=event, category=Category.ONBOARDING, owner=Team.GROWTH):
            """A user created a project, as the application sees it."""

            scope: ProjectScope
            template: str = prop("Template picked.", example="kanban")

    assert str(refused.value) == (
        'MyProjectCreate is declared for "New Project Event", the event of the catalog\'s ProjectCreate, '
        "with a schema of its own the audit log would mix with it: send ProjectCreate, or declare a new "
        "event name for MyProjectCreate"
    )
    assert REGISTRY.tracks == tracks


@pytest.mark.parametrize("name", ["RegisterIdentify", "Register"])
def test_an_identify_spec_outside_the_catalog_named_like_one_of_its_calls_is_refused(name: str) -> None:
    """The log names an identify call by its spec's class (`Identify: <class>`): the application's
    calls were listed, filtered and reported by `drift` as the catalog's Register."""
    with pytest.raises(TypeError) as refused:
        type(
            name,
            (IdentifySpec,),
            {"__doc__": "A user registered.", "__module__": __name__},
            name="Signup",
            owner=Team.IDENTITY,
        )

    assert str(refused.value) == (
        f'{name} is named like the catalog\'s identify spec RegisterIdentify ("Register"), and the audit '
        f"log would show both as one call: send RegisterIdentify, or give {name} another class name"
    )


def test_a_spec_outside_the_catalog_given_the_catalog_s_own_registry_is_refused() -> None:
    """`registry=REGISTRY` from an application module made the spec join the catalog in that process
    alone: it recorded and stamped a catalog version of its own, as before `ForeignSpecWarning`."""
    tracks, identifiers, version = (
        list(REGISTRY.tracks),
        list(REGISTRY.identifiers),
        Catalog(REGISTRY).version,
    )
    with pytest.raises(TypeError) as track_refused:

        class BoardCreateStarted(
            TrackSpec,
            event=_BoardEvent.BoardCreateStart,
            category=Category.ONBOARDING,
            owner=Team.GROWTH,
            registry=REGISTRY,
        ):
            """A user started creating a board."""

    with pytest.raises(TypeError) as identify_refused:

        class BoardlySignup(IdentifySpec, name="Boardly signup", owner=Team.IDENTITY, registry=REGISTRY):
            """A user signed up to Boardly."""

    assert str(track_refused.value) == (
        f"track spec BoardCreateStarted is defined in {__name__}, outside the catalog package (analytics), "
        "and given the catalog's own registry, which would change the catalog version this process records: "
        "declare it in analytics/tracks.py of your fork of the catalog, or give it a registry of its own "
        "(registry=SpecRegistry())"
    )
    assert str(identify_refused.value).startswith(f"identify spec BoardlySignup is defined in {__name__},")
    assert (REGISTRY.tracks, REGISTRY.identifiers) == (tracks, identifiers)
    assert Catalog(REGISTRY).version == version == CATALOG.version


@pytest.mark.parametrize("spec_base", [TrackSpec, IdentifySpec])
def test_a_misspelt_class_argument_fails_the_class_statement(
    spec_base: type[TrackSpec | IdentifySpec],
) -> None:
    """Taken as `**kwargs`, `stale_afer=` was dropped silently: the event kept the 30-day default."""
    metadata = (
        {"event": _BoardEvent.BoardCreateStart, "category": Category.ONBOARDING}
        if spec_base is TrackSpec
        else {"name": "Boardly signup"}
    )
    with pytest.raises(
        TypeError, match=r"_catalog_metadata\(\) got an unexpected keyword argument 'stale_afer'"
    ):
        types.new_class(
            "BoardCreateStarted",
            (spec_base,),
            {**metadata, "owner": Team.GROWTH, "registry": SpecRegistry(), "stale_afer": timedelta(days=90)},
            lambda body: body.update(__doc__="A user started creating a board.", __module__=__name__),
        )
