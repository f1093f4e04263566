"""The dashboard's audit store, created on first use.

It is lazy so that commands which must work on an unmigrated database (`event-catalog db
upgrade`) never open it.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, current_app

from analytics import AuditStore
from analytics.audit_settings import audit_store
from analytics.personal_data import use_personal_keys
from analytics.settings import shown_url


class AnalyticsExtension:
    """Holds one `AuditStore` per app, built from its configuration on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def init_app(self, app: Flask) -> None:
        """Register the extension; nothing is connected until `store` is first called.

        The extra names of personal data apply now: the tester masks by them before any store exists.
        """
        app.extensions["analytics"] = {"store": None}
        use_personal_keys(app.config.get("AUDIT_PERSONAL_KEYS") or ())

    def store(self, app: Flask | None = None) -> AuditStore:
        """The app's audit store over its database engine, created on first use.

        One per app and process: the store keeps its writers' chain heads in memory, and a store
        per call would start a new chain for every entry.
        """
        app = app or current_app._get_current_object()  # type: ignore[attr-defined]
        state: dict[str, Any] = app.extensions["analytics"]
        with self._lock:
            if state["store"] is None:
                state["store"] = self._new_store(app)
            store: AuditStore = state["store"]
            return store

    @staticmethod
    def _new_store(app: Flask) -> AuditStore:
        from webapp.extensions import db

        with app.app_context():
            engine = db.engine
        return audit_store(engine, app.config)

    def state(self) -> dict[str, Any]:
        """What `/healthz` reports about sending: whether a write key is set, and where to.

        The dashboard keeps no client of its own: the tester keeps one per destination.
        """
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        host = shown_url(app.config["SEGMENT_HOST"])
        return {"enabled": bool(app.config["SEGMENT_WRITE_KEY"]), "host": host}
