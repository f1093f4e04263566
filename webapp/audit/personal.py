"""Which personal data an audit page shows: masked for viewers, the sent values for engineers.

The log stores personal-data values as masks (`masked:<hex>`) and, with `AUDIT_ENCRYPTION_KEY`,
the originals sealed beside them. Engineers and admins debug deliveries, so they see what was sent;
viewers (product managers) see the masks. The role is checked here, once, for every page and export
that shows a payload, so no URL hands a viewer the originals.

An entry recorded before today's catalog marked a property personal data holds it in clear
(`analytics.remask`): viewers get it masked all the same, engineers see it with a note saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from analytics.audit import AuditEntry
from analytics.catalog import CATALOG
from analytics.durations import shown_instant
from analytics.erasure import erased_at
from analytics.messages import payload_of
from analytics.payload_drift import Drift
from analytics.personal_data import PersonalDataCipher, SealError, is_mask, masked_in_message, unmask
from analytics.remask import Remasked, remask
from webapp.auth.policy import allows
from webapp.auth.roles import Role
from webapp.extensions import analytics_client, db


@dataclass(frozen=True)
class ShownPayload:
    """A payload as one person may see it.

    Attributes:
        payload: the stored payload, or a copy with the original personal data put back.
        unmasked: whether the originals were put back.
        note: why masks remain, for the page to say; None when nothing is masked.
        in_clear_note: for a reader allowed to see personal data, which values the entry holds in
            clear though today's catalog marks them personal data (`in_clear_note`); else None.
    """

    payload: dict[str, Any]
    unmasked: bool
    note: str | None
    in_clear_note: str | None = None


VIEWER_NOTE = "Personal data is masked for your role; engineers and admins see it."
NO_KEY_NOTE = "Personal data is stored masked; set AUDIT_ENCRYPTION_KEY to keep originals."


def unmasking_cipher() -> PersonalDataCipher | None:
    """The cipher that opens sealed personal data, if the signed-in person may see it unmasked."""
    if not allows(Role.ENGINEER):
        return None
    return analytics_client.store().cipher


def remask_key() -> bytes | None:
    """The key an export masks with what entries hold in clear though today's catalog marks it
    personal data (`analytics.remask`); None when the signed-in person may see personal data, or
    this deployment stores it in clear (`AUDIT_MASK_PERSONAL_DATA=false`)."""
    store = analytics_client.store()
    if allows(Role.ENGINEER) or not store.mask_personal_data:
        return None
    return store.mask_key


def erased_note(moment: datetime) -> str:
    """What the entry page says of an entry whose personal data an erasure request removed."""
    return (
        f"The personal data of this entry was erased on request on {shown_instant(moment)}: only the masks "
        "remain, and no role can see the real values again."
    )


def erasure_time(entry: AuditEntry) -> datetime | None:
    """When an erasure request removed the entry's sealed personal data; None if none did."""
    if entry.encrypted_personal_data is not None:
        return None
    return erased_at(db.session.connection(), [entry.message_id]).get(entry.message_id)


def in_clear_note(entry: AuditEntry, paths: tuple[str, ...]) -> str:
    """What a reader allowed to see personal data is told of values an entry holds in clear."""
    names = ", ".join(paths)
    version = entry.catalog_version
    if version is not None and version != CATALOG.version:
        why = f"recorded under catalog version {version}, before it was marked personal data"
    else:
        why = "recorded by a host that did not mask it"
    return (
        f"Stored in clear: {names} ({why}). Today's catalog marks it personal data, so viewers see it "
        "masked, but an erasure request cannot remove it from this entry: purge the entry instead."
    )


def remasked(entry: AuditEntry) -> Remasked:
    """The entry's payload with what today's catalog marks personal data masked (`analytics.remask`),
    unless this deployment stores personal data in clear (`AUDIT_MASK_PERSONAL_DATA=false`)."""
    store = analytics_client.store()
    if not store.mask_personal_data:
        return Remasked(entry.payload, ())
    return remask(entry.payload, store.mask_key)


def shown_payload(entry: AuditEntry, *, erased: datetime | None = None) -> ShownPayload:
    """The entry's payload with personal data unmasked if the signed-in person may see it, and masked
    for a viewer where the entry holds in clear what today's catalog marks personal data.

    `erased` (`erasure_time`) is when an erasure request removed its personal data, if it did: a page
    that names one entry says so rather than why no key opens it.
    """
    today = remasked(entry)
    if not today.in_clear:
        return _shown_payload(entry, erased)
    if not allows(Role.ENGINEER):
        # The masks' own reason first (erased, no key): no role sees those originals either.
        return ShownPayload(today.payload, False, _shown_payload(entry, erased).note or VIEWER_NOTE)
    return replace(_shown_payload(entry, erased), in_clear_note=in_clear_note(entry, today.in_clear))


def _shown_payload(entry: AuditEntry, erased: datetime | None) -> ShownPayload:
    payload: dict[str, Any] = entry.payload
    if not masked_in_message(payload):
        return ShownPayload(payload, unmasked=False, note=None)
    if erased is not None:
        return ShownPayload(payload, False, erased_note(erased))
    # Without the originals every role sees the masks, so say that before naming the roles who would not.
    cipher = analytics_client.store().cipher
    if cipher is None:
        return ShownPayload(payload, False, NO_KEY_NOTE)
    if entry.encrypted_personal_data is None:
        return ShownPayload(
            payload, False, "This entry was recorded without AUDIT_ENCRYPTION_KEY: only the masks were kept."
        )
    if not allows(Role.ENGINEER):
        return ShownPayload(payload, False, VIEWER_NOTE)
    try:
        return ShownPayload(unmask(payload, entry.encrypted_personal_data, cipher), unmasked=True, note=None)
    except SealError as exc:
        return ShownPayload(payload, False, f"The original personal data cannot be opened: {exc}.")


def drift_shown(drift: Drift, shown: ShownPayload, stored: dict[str, Any]) -> Drift:
    """The drift of the stored payload (`drift_of(stored)`) as the reader of `shown` may see it: each
    difference's value as `shown` holds it, so a viewer reads the mask of a value stored in clear.

    The verdict is the stored payload's for every role: judged on a viewer's re-masked copy, a
    wrong-typed value in a re-masked property became a mask, which is not counted, and the page said
    "still validate". An engineer's table keeps the stored values (masks), as before."""
    if shown.unmasked or shown.payload is stored:
        return drift
    values = payload_of(shown.payload)
    differences = tuple(
        difference if difference.missing else replace(difference, stored=_shown_at(values, difference.field))
        for difference in drift.differences
    )
    return replace(drift, differences=differences)


def _shown_at(values: Any, field: str) -> Any:
    """The value at a difference's dotted `field` in the shown values; a mask on the way stands for
    all it hides (a personal value masked whole)."""
    for step in field.split(".") if field else ():
        if is_mask(values):
            return values
        if isinstance(values, list) and step.isdigit() and int(step) < len(values):
            values = values[int(step)]
        elif isinstance(values, dict) and step in values:
            values = values[step]
        else:
            return None
    return values
