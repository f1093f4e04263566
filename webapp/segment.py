"""The dashboard's own analytics client, created on first use.

It is lazy so that commands which must work on an unmigrated database (`event-catalog db
upgrade`) never build a client, whose schema check would refuse to start.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, current_app

from analytics import AnalyticsClient, AuditStore
from analytics.partitions import ensure_safely


class AnalyticsExtension:
    """Holds one `AnalyticsClient` per app, built from its configuration on first use."""

    def __init__(self) -> None:
        # Re-entrant: `client` builds the store while holding it.
        self._lock = threading.RLock()

    def init_app(self, app: Flask) -> None:
        """Register the extension; nothing is connected until `client` is first read."""
        app.extensions["analytics"] = {"client": None, "store": None}

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
        return AuditStore(
            engine,
            mask_personal_data=app.config["AUDIT_MASK_PERSONAL_DATA"],
            mask_key=str(app.config["AUDIT_MASK_KEY"]).encode(),
            chain_key=str(app.config["AUDIT_CHAIN_KEY"]).encode(),
            encryption_key=app.config["AUDIT_ENCRYPTION_KEY"],
        )

    @property
    def client(self) -> AnalyticsClient:
        """The app's client, created on first use after the schema check and the partitions ahead."""
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        state: dict[str, Any] = app.extensions["analytics"]
        with self._lock:
            if state["client"] is None:
                store = self.store(app)
                store.check_schema()
                ensure_safely(
                    store.engine,
                    interval=app.config["AUDIT_PARTITION_INTERVAL"],
                    ahead=app.config["AUDIT_PARTITIONS_AHEAD"],
                )
                state["client"] = AnalyticsClient(
                    app.config["SEGMENT_WRITE_KEY"], store=store, host=app.config["SEGMENT_HOST"]
                )
            client: AnalyticsClient = state["client"]
            return client

    def state(self) -> dict[str, Any]:
        """What `/healthz` reports about the Segment client, without creating one."""
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        client: AnalyticsClient | None = app.extensions["analytics"]["client"]
        return {
            "enabled": bool(app.config["SEGMENT_WRITE_KEY"]),
            "host": app.config["SEGMENT_HOST"],
            "started": client is not None,
            "queue_depth": client.queue_depth() if client is not None else 0,
        }
