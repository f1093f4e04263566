"""The audit log's settings: read from the environment, and the store built from them, once for the
library's `init()` and the dashboard alike.

Both read the same variables with the same checks and build the same `AuditStore` from them; written
twice, a new audit setting had to be added in four places, and a place left out would read the log
with another key than the one that wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from analytics.audit import AuditStore
from analytics.partitions import Interval, parse_ahead
from analytics.personal_data import parse_personal_keys
from analytics.settings import (
    AUDIT_KEYS,
    PUBLIC_AUDIT_KEY,
    RETIRED_CHAIN_KEYS,
    EnvironmentReader,
    encryption_key,
    parse_flag,
    retired_chain_keys,
)


def take_audit_variables(read: EnvironmentReader) -> None:
    """Read the audit log's variables into `read.settings`, each under its own name."""
    read.take("AUDIT_MASK_PERSONAL_DATA", "AUDIT_MASK_PERSONAL_DATA", parse_flag)
    read.take("AUDIT_PERSONAL_KEYS", "AUDIT_PERSONAL_KEYS", parse_personal_keys)
    for name in AUDIT_KEYS:
        read.take(name, name)
    read.take(RETIRED_CHAIN_KEYS, RETIRED_CHAIN_KEYS, retired_chain_keys)
    read.take("AUDIT_ENCRYPTION_KEY", "AUDIT_ENCRYPTION_KEY", encryption_key)
    read.take("AUDIT_PARTITION_INTERVAL", "AUDIT_PARTITION_INTERVAL", Interval.parse)
    read.take("AUDIT_PARTITIONS_AHEAD", "AUDIT_PARTITIONS_AHEAD", parse_ahead)


def audit_store(
    engine: Engine, settings: Mapping[str, Any], *, mask_personal_data: bool | None = None
) -> AuditStore:
    """The audit log on `engine`, keyed and masking as `settings` say (what `take_audit_variables`
    read, or the dashboard's configuration); a setting left out takes its default.

    Args:
        mask_personal_data: overrides `AUDIT_MASK_PERSONAL_DATA` (an `init()` argument).
    """
    mask = (
        settings.get("AUDIT_MASK_PERSONAL_DATA", True) if mask_personal_data is None else mask_personal_data
    )
    return AuditStore(
        engine,
        mask_personal_data=bool(mask),
        mask_key=str(settings.get("AUDIT_MASK_KEY", PUBLIC_AUDIT_KEY)).encode(),
        chain_key=str(settings.get("AUDIT_CHAIN_KEY", PUBLIC_AUDIT_KEY)).encode(),
        retired_chain_keys=[str(key).encode() for key in settings.get(RETIRED_CHAIN_KEYS, ())],
        encryption_key=settings.get("AUDIT_ENCRYPTION_KEY"),
    )
