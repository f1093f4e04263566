"""The three roles, each including everything the one below it may do.

- **viewer** (product managers): the catalog, scopes, identifiers, exports, audit search with
  personal data masked and without account actions (`webapp.audit.visibility`).
- **engineer**: + the tester and replays to non-production destinations, unmasked personal data.
- **admin**: + production destinations, replay to production, users, account actions in the audit
  log, retention purge.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A user's role; compare with `includes`, never with `<` (that would compare the strings)."""

    VIEWER = "viewer"
    ENGINEER = "engineer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Position in viewer < engineer < admin."""
        return list(Role).index(self)

    def includes(self, required: Role) -> bool:
        """Whether this role may do what `required` may do."""
        return self.rank >= required.rank

    @classmethod
    def parse(cls, raw: str) -> Role:
        """Read a role name in any case.

        Raises:
            ValueError: with the accepted names.
        """
        try:
            return cls(raw.strip().lower())
        except ValueError:
            raise ValueError(f"{raw!r} is not a role: use {', '.join(cls)}") from None
