"""Turn a spec into the exact Segment message the client will send.

The audit log must hold a message before the Segment client sees it, and the tester must preview
exactly what will be sent, so the message is built here in full, normalised the way
`segment.analytics.Client._enqueue` normalises it (millisecond UTC timestamp, string ids,
`context.library`, `anonymousId: null`). `tests/test_segment_contract.py` fails if the client's
normalisation changes under us.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from segment.analytics.utils import guess_timezone
from segment.analytics.version import VERSION as SEGMENT_VERSION

from analytics.catalog import CATALOG
from analytics.errors import MessageBuildError
from analytics.message_ids import new_message_id
from analytics.scopes import UserScope
from analytics.spec import IdentifySpec, TrackSpec
from analytics.storable_text import checked_json

CONTEXT_KEY = "eventCatalog"
"""Key under `context` where the catalog records who built a message, from which catalog version."""

LIBRARY_CONTEXT_KEYS = frozenset({CONTEXT_KEY, "library"})
"""The `context` keys the library writes itself, which a host's own `context=` cannot set."""

SEGMENT_LIBRARY = {"name": "analytics-python", "version": SEGMENT_VERSION}


def utc_now_ms() -> datetime:
    """Now in UTC, truncated to the millisecond the Segment client keeps."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


SpecClass = type[TrackSpec] | type[IdentifySpec]


_CALLS: dict[str, tuple[type[TrackSpec] | type[IdentifySpec], str, str]] = {
    "track": (TrackSpec, "a track spec", "analytics.tracks"),
    "identify": (IdentifySpec, "an identify spec", "analytics.identifiers"),
}


def check_spec(call: Literal["track", "identify"], spec: object) -> None:
    """Refuse, naming the call, anything but the kind of spec `call` sends.

    Text, None, a dict, a spec class or the other kind of spec is a mistake in the calling code, not
    an analytics failure, and there is no message to audit or to put in a receipt: it is raised at
    once, as a spec built with bad values raises when it is built. Unchecked, it was an
    AttributeError from deep inside (`'str' object has no attribute 'traits'`), and an identify
    spec given to `track` was sent as an identify.

    Raises:
        TypeError: `spec` is not an instance of the call's spec class.
    """
    expected, kind, module = _CALLS[call]
    if isinstance(spec, expected):
        return
    if isinstance(spec, TrackSpec | IdentifySpec):
        other = "identify" if call == "track" else "track"
        got = f"{type(spec).__name__}, {_CALLS[other][1]}: send it with {other}()"
    elif isinstance(spec, type) and issubclass(spec, TrackSpec | IdentifySpec):
        got = f"the class {spec.__name__}: build one with its scope and properties"
    else:
        got = "None" if spec is None else f"{type(spec).__name__} {reprlib.repr(spec)}"
    raise TypeError(f"{call}() takes {kind} (from {module}), got {got}")


def catalog_context(
    spec_class: SpecClass, *, source: str, actor: str | None, test: bool, off_schema: bool = False
) -> dict[str, Any]:
    """What the catalog adds to `context`: its version, the spec, the sending path and, for tests, who.

    An off-schema message (a tester experiment whose payload the spec did not validate) says so, so
    that a warehouse can set it apart from messages the catalog vouches for.
    """
    marker: dict[str, Any] = {
        "version": CATALOG.version,
        "spec": spec_class.__name__,
        "source": source,
        "test": test,
    }
    if actor is not None:
        marker["actor"] = actor
    if off_schema:
        marker["offSchema"] = True
    return {CONTEXT_KEY: marker}


def _message_id(given: object) -> str:
    """The message's id: a new one when none is given; else text, as the Segment client's
    `stringify_id` makes it (`12345` becomes `"12345"`), so that the audit entry is hashed over the
    text its column keeps and `audit verify` does not read the entry as edited."""
    if given is None or given == "":
        return new_message_id()
    return str(given)


def _message(
    spec_class: SpecClass,
    user_id: str | None,
    payload: dict[str, Any] | None,
    *,
    source: str,
    actor: str | None,
    test: bool,
    message_id: str | None,
    timestamp: datetime | None,
    off_schema: bool = False,
    host_context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The one place a message is assembled, for spec-built and off-schema messages alike; without
    a payload for one whose spec's values could not be made into one (`MessageBuildError`).

    Raises:
        TypeError: `timestamp` is not a datetime (text failed later, as an AttributeError).
    """
    if timestamp is not None and not isinstance(timestamp, datetime):
        raise TypeError(
            f"timestamp must be a datetime, got {type(timestamp).__name__} {reprlib.repr(timestamp)}"
        )
    # A naive time means what it means to the Segment client itself (`guess_timezone`): the host's
    # local time when it is later than five seconds before `datetime.now()` (that call's usual
    # result), else UTC. Code moving from the bare client keeps its timestamps; reading every naive
    # time as UTC put a `datetime.now()` of a host in Tokyo 9 hours in the future. The text keeps
    # the milliseconds the Segment client keeps, truncated as `utc_now_ms` truncates.
    when = datetime.now(UTC) if timestamp is None else guess_timezone(timestamp)
    context = {
        **(host_context or {}),
        **catalog_context(spec_class, source=source, actor=actor, test=test, off_schema=off_schema),
        "library": dict(SEGMENT_LIBRARY),
    }
    message: dict[str, Any] = {
        "integrations": {},
        "anonymousId": None,
        "timestamp": when.isoformat(timespec="milliseconds"),
        "context": context,
        "userId": user_id,
        "messageId": _message_id(message_id),
    }
    if issubclass(spec_class, TrackSpec):
        message.update(type="track", event=str(spec_class.event))
    else:
        message.update(type="identify")
    if payload is not None:
        message["properties" if issubclass(spec_class, TrackSpec) else "traits"] = payload
    return message


def build_message(
    spec: TrackSpec | IdentifySpec,
    *,
    source: str = "application",
    actor: str | None = None,
    test: bool = False,
    message_id: str | None = None,
    timestamp: datetime | None = None,
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the Segment message for a spec, exactly as the Segment client will enqueue it.

    Args:
        spec: a validated track or identify spec.
        source: the sending path (`application`, `tester`, `replay`), recorded in the context.
        actor: who fired it, for tester and replay sends.
        test: whether it is a test message (warehouses filter these out).
        message_id: keep an existing id (replays); a new UUID otherwise. An id that is not text
            (an int, a UUID) is sent and audited as its text, as the Segment client sends it.
        timestamp: keep an existing time (replays); now otherwise. A naive time is read as the
            Segment client reads it (`segment.analytics.utils.guess_timezone`): local time when
            later than five seconds before the host's `datetime.now()`, UTC when earlier.
        context: the host's own Segment `context` keys (`ip`, `userAgent`, `locale`, …), sent
            beside the library's own, as JSON (`analytics.storable_text.check_json_value`).

    Returns:
        The message as a JSON-ready dict.

    Raises:
        TypeError: `timestamp` is not a datetime, or `context` not a mapping or one that sets a key
            the library writes (`LIBRARY_CONTEXT_KEYS`).
        MessageBuildError: the spec's values cannot be made into a message (only a spec made with
            `model_construct` can hold such values: `_spec_values`), or `context` holds a value
            no message can carry.
    """
    sized = build_sized_message(
        spec,
        source=source,
        actor=actor,
        test=test,
        message_id=message_id,
        timestamp=timestamp,
        context=context,
    )
    return sized.message


class SizedMessage(NamedTuple):
    """A message from `build_sized_message`, and what bounds the size of the host's part of it.

    Attributes:
        message: the message, as `build_message` builds it.
        context_size: the UTF-8 length of the host's `context=` as compact JSON, written when it was
            checked (`analytics.storable_text.checked_json`); 0 without one, None when it could not be
            written (then only a whole measure of the message says its size).
    """

    message: dict[str, Any]
    context_size: int | None


def build_sized_message(
    spec: TrackSpec | IdentifySpec,
    *,
    source: str = "application",
    actor: str | None = None,
    test: bool = False,
    message_id: str | None = None,
    timestamp: datetime | None = None,
    context: Mapping[str, Any] | None = None,
) -> SizedMessage:
    """`build_message`, with the size of the host's context: the client bounds the message's size with
    it before sending (`analytics.client.may_be_oversized`) instead of encoding the whole message again.
    The arguments and errors are `build_message`'s.
    """
    host_context = _host_context(context)
    options: dict[str, Any] = {
        "source": source,
        "actor": actor,
        "test": test,
        "message_id": message_id,
        "timestamp": timestamp,
    }
    try:
        user_id, payload = _spec_values(spec)
    except (AttributeError, TypeError, ValueError) as exc:
        why = f"(was it made with model_construct(), which skips the checks?): {type(exc).__name__}: {exc}"
        raise _unbuilt(spec, f"could not be made into a message {why}", options) from exc
    context_size: int | None = 0
    if host_context:  # most calls pass none, and checking nothing still costs a JSON encoding
        try:
            host_context, context_size = checked_json(host_context)
        except ValueError as exc:
            raise _unbuilt(spec, f"context= cannot be sent: {exc}", options) from None
    message = _message(type(spec), user_id, payload, host_context=host_context, **options)
    return SizedMessage(message, context_size)


def _host_context(context: object) -> dict[str, Any]:
    """The host's own context keys, refused at once, as a wrong `timestamp` is, when no value could
    make the call right: not a mapping, or a key the library writes (its marker, which the audit log,
    drift and replay read, and `library`, which the Segment client writes).

    Raises:
        TypeError: as above.
    """
    if context is None:
        return {}
    if not isinstance(context, Mapping):
        raise TypeError(
            f"context must be a mapping (ip, userAgent, locale, …), got {type(context).__name__} "
            f"{reprlib.repr(context)}"
        )
    if taken := sorted(LIBRARY_CONTEXT_KEYS.intersection(context)):
        raise TypeError(f"context cannot set {', '.join(map(repr, taken))}: the library writes it")
    return dict(context)


def _unbuilt(spec: TrackSpec | IdentifySpec, problem: str, options: dict[str, Any]) -> MessageBuildError:
    """The error for a message that could not be built, with what could be: no payload, and no
    `userId` when the scope could not give one."""
    unbuilt = _message(type(spec), _user_id_or_none(spec), None, **options)
    return MessageBuildError(f"{type(spec).__name__} {problem}; not audited, not sent", unbuilt)


def _spec_values(spec: TrackSpec | IdentifySpec) -> tuple[str, dict[str, Any]]:
    """The user id and the payload, as JSON types.

    A spec that was built cannot fail here: it refused such values (`analytics.storable_text`). One made
    with `model_construct` can hold anything: `scope=None` (AttributeError), bytes that are not UTF-8,
    an object pydantic cannot serialise, a dict holding itself (ValueError). Those raised from `track`
    into the host, which `track` promises never to do for an analytics reason.
    """
    payload = spec.properties() if isinstance(spec, TrackSpec) else spec.traits()
    return spec.scope.segment_user_id(), payload


def _user_id_or_none(spec: TrackSpec | IdentifySpec) -> str | None:
    """The spec's user id for a message that could not be built, when its scope can still give one."""
    try:
        return spec.scope.segment_user_id()
    except (AttributeError, TypeError, ValueError):
        return None


def build_off_schema_message(
    spec_class: SpecClass,
    scope: UserScope,
    payload: dict[str, Any],
    *,
    source: str,
    actor: str | None = None,
    message_id: str | None = None,
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """Build a test message whose own properties the spec did not validate (a tester experiment).

    The scope is still validated: its ids come first, as in `build_message`; `payload` follows
    as given. The message is always marked as a test and as off-schema in its context.

    Args:
        spec_class: the spec the experiment is about (its event name and scope).
        scope: the validated scope.
        payload: the own properties (traits for an identify call), JSON types, unvalidated.
        source: the sending path.
        actor: who fired it.
        message_id: keep an existing id; a new UUID otherwise.
        timestamp: keep an existing time; now otherwise.

    Returns:
        The message as a JSON-ready dict.
    """
    if issubclass(spec_class, TrackSpec):
        payload = {**scope.id_properties(), **payload}
    return _message(
        spec_class,
        scope.segment_user_id(),
        payload,
        source=source,
        actor=actor,
        test=True,
        message_id=message_id,
        timestamp=timestamp,
        off_schema=True,
    )


def payload_of(message: dict[str, Any]) -> dict[str, Any]:
    """The part of a message a spec describes: `properties` for a track, `traits` for an identify."""
    key = "properties" if message.get("type") == "track" else "traits"
    payload: dict[str, Any] = message.get(key) or {}
    return payload


def catalog_marker(message: dict[str, Any]) -> dict[str, Any]:
    """What `build_message` wrote under `context.eventCatalog` (spec, version, test, offSchema…).

    Empty for a message that has none: one built by hand, or stored before the marker existed.
    """
    marker: dict[str, Any] = (message.get("context") or {}).get(CONTEXT_KEY) or {}
    return marker
