"""Where the catalog's classes live: in this package, which is the catalog.

A spec or scope class registers itself by being defined (`analytics.spec`, `analytics.scopes`), and
the shipped registries are the catalog every process fingerprints and records (`analytics.versions`).
A class an application defines in its own module would join them in that process only: its version
would differ from the dashboard's, whose Changes page then reported the application's events as
removed, and `lint` (personal data, duplicates) never saw them. Such a class joins no registry unless
it is given one (`registry=`, as tests build catalogs of their own); it warns instead, once per class,
saying where to declare it.
"""

from __future__ import annotations

import sys
import warnings
from types import FrameType

PACKAGE = __name__.partition(".")[0]
"""The catalog package's name: a fork keeps it, so its `analytics/tracks.py` is still the catalog."""


class ForeignSpecWarning(UserWarning):
    """A spec or scope class was defined outside the catalog package, so the catalog does not hold it.

    It can still be built and sent, but `lint`, the dashboard and the recorded catalog version do not
    know it. Declare it in the catalog package of a fork (`analytics/tracks.py`, `identifiers.py`,
    `scopes.py`) instead.
    """


def in_catalog_package(cls: type) -> bool:
    """Whether the class was defined in the catalog package (the same test as `check-code`'s CC001)."""
    module = cls.__module__
    return module == PACKAGE or module.startswith(f"{PACKAGE}.")


def warn_foreign(cls: type, kind: str, home: str) -> None:
    """Warn that a class defined outside the catalog package is left out of the catalog.

    The warning points at the `class` statement (the first frame of the class's own module), so that
    Python's default filter shows it once per class and the line is the one to move.

    Args:
        cls: the class just defined.
        kind: what it is, for the message ("track spec", "scope", …).
        home: the catalog module it belongs in (`analytics/tracks.py`).
    """
    message = (
        f"{kind} {cls.__name__} is defined in {cls.__module__}, outside the catalog package "
        f"({PACKAGE}): the catalog does not hold it, so lint, personal-data checks, the dashboard and "
        f"the recorded catalog version do not know it. Declare it in {home} of your fork of the catalog."
    )
    warnings.warn(message, ForeignSpecWarning, stacklevel=_stacklevel_of(cls.__module__))


def refuse_shipped_registry(cls: type, kind: str, home: str) -> TypeError:
    """The error for a spec outside the catalog package given the catalog's own registry
    (`registry=REGISTRY`): it joined the catalog in that process alone, which then recorded a catalog
    version of its own, the very thing `warn_foreign` keeps a spec out for.

    A scope given `SCOPES` still joins it: the catalog version does not cover scopes, and tests add a
    fork's scope that way (`tests/test_added_scope.py`).

    Args:
        cls: the class just defined.
        kind: what it is, for the message ("track spec", "identify spec").
        home: the catalog module it belongs in (`analytics/tracks.py`).
    """
    return TypeError(
        f"{kind} {cls.__name__} is defined in {cls.__module__}, outside the catalog package ({PACKAGE}), "
        f"and given the catalog's own registry, which would change the catalog version this process "
        f"records: declare it in {home} of your fork of the catalog, or give it a registry of its own "
        f"(registry=SpecRegistry())"
    )


def _stacklevel_of(module: str) -> int:
    """The `stacklevel` of the innermost frame running `module`: the class statement, below pydantic's
    metaclass and the registration hooks. 2 (the caller of `warn_foreign`) when none runs it (a class
    made with `type()` or `exec` elsewhere)."""
    frame: FrameType | None = sys._getframe(2)
    level = 2
    while frame is not None:
        if frame.f_globals.get("__name__") == module:
            return level
        frame, level = frame.f_back, level + 1
    return 2
