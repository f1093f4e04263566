"""Audit log search: a reviewer's filters as indexed queries, the same on SQLite and PostgreSQL.

Every query function returns a `Select`, so the dashboard pages it, the export streams it and tests
inspect it. The two places where the dialects differ — epoch seconds for histogram buckets, and
matching a property inside the JSON payload — are SQL constructs compiled per dialect, so there is
one query builder rather than two.

Results are newest first by `(recorded_at, id)`. Pages continue from a `Cursor` on that pair
(keyset pagination), never from an OFFSET: a page costs the same at row ten and at row ten million,
and entries written while a reviewer reads neither shift nor repeat the rows of later pages.
Every equality filter has a `(column, recorded_at)` index (see `AuditEntry.__table_args__`), so the
database walks one index backwards from the cursor.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVarTuple

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnClause,
    ColumnElement,
    Select,
    SQLColumnExpression,
    String,
    and_,
    case,
    column,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased, undefer
from sqlalchemy.sql.compiler import SQLCompiler

from analytics.actions import ACTION_TYPE
from analytics.audit import (
    FAILED_OUTCOMES,
    IDENTIFY_TYPE,
    MESSAGE_TYPES,
    PURGE_TYPE,
    AuditEntry,
    AuditStatus,
    DeliveryAttempt,
    Source,
    called_spec,
    mask_value,
)
from analytics.catalog import CATALOG, is_personal_key
from analytics.durations import as_utc, parse_instant
from analytics.messages import catalog_marker
from analytics.network_errors import may_have_arrived_clause
from analytics.payload_paths import ITEMS, containing, last_key, parse_path, spellings, split_search
from analytics.scopes import MAX_ID, is_id_text
from analytics.sql_functions import dialect_function
from analytics.storable_text import check_storable
from analytics.strict_json import load_json

Ts = TypeVarTuple("Ts")

RANGES: dict[str, timedelta] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
"""The relative time ranges offered next to absolute `since` / `until`."""

TYPES = (*MESSAGE_TYPES, ACTION_TYPE, PURGE_TYPE)
"""Entry types the type filter offers: messages, people's actions (failed sign-ins, account changes) and
the records the retention purge leaves."""

FILTER_PARAMS = (
    "range",
    "since",
    "until",
    "type",
    "event",
    "status",
    "source",
    "destination",
    "actor",
    "user_id",
    "project",
    "cluster",
    "message_id",
    "version",
    "prop",
    "outcome",
    "http_status",
    "attempts",
)
"""The query-string names of the filters, shared by the dashboard's URLs and the CLI."""

MAY_HAVE_ARRIVED = "may_have_arrived"
REFUSED = "refused"
OUTCOMES: dict[str, tuple[str, ...]] = {REFUSED: FAILED_OUTCOMES, MAY_HAVE_ARRIVED: FAILED_OUTCOMES}
"""The `outcome` filter's classes of undelivered (failed or dropped) messages: `may_have_arrived` (an
attempt, the latest or an earlier one, failed without an answer in a way that leaves open that the
endpoint has it: a read timeout, or a connection closed after the request went out and before an
answer came; `analytics.network_errors.may_have_arrived` decides, `may_have_arrived_entries` in SQL)
and `refused`, every other: the endpoint answered each attempt with an error, the connection was
refused, or the message was dropped before sending. A `refused` message never arrived."""

FAILED_ATTEMPTS = "failed"
"""The `attempts` filter's one value: entries recorded in the range that had a failed or dropped
delivery attempt in it too, whatever their status now (what a replay re-sent, or a retry delivered
late). The range bounds both: an entry recorded before it whose re-send failed within it is left out,
because the pages, the histogram and the live tail all walk entries by `recorded_at`."""

REPLAYED_ATTEMPTS = "replayed"
"""The `attempts` filter's other value: entries recorded in the range that a replay re-sent in it (an
attempt whose source is `replay`), whatever became of them: what `attempts=failed` misses of an
incident, the `pending` entries a crashed process left, which never had a failed attempt."""

ATTEMPTS_CHOICES = (FAILED_ATTEMPTS, REPLAYED_ATTEMPTS)
"""The `attempts` filter's values."""

# Statuses can be combined ("not delivered" = failed,pending,dropped); every other filter takes one
# value, so a repeated parameter is an error rather than a silently ignored second value.
_MULTI_VALUED = frozenset({"status"})

WORDED_FILTERS: dict[str, tuple[str, ...]] = {
    "type": TYPES,
    "status": tuple(str(status) for status in AuditStatus),
    "source": tuple(str(source) for source in Source),
    "outcome": tuple(OUTCOMES),
    "attempts": ATTEMPTS_CHOICES,
}
"""The filters whose values are words of a fixed list, read in any case (`canonical_value`). `range`
is not one of them: `1h` is a duration, written as `since`, `--stuck-after` and /health's window
write theirs (`analytics.durations`), where `1H` is no duration."""

# Destination names are lowercase (`webapp.tester.destinations`); a key's fingerprint is 12 hex digits.
_DESTINATION = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}(:[0-9a-f]{12})?")

_CATALOG_VERSION = re.compile(r"[0-9a-f]{12}")


class FilterError(ValueError):
    """Filters that cannot be applied, with one message per query-string name.

    Attributes:
        errors: message by parameter name (`since`, `project`, …).
    """

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.errors.items()))


@dataclass(frozen=True)
class PropertyMatch:
    """A `key = value` search in the payload's `properties` (track) or `traits` (identify).

    Attributes:
        key: the property's name, or the path to a nested value as the catalog names it
            (`payment_method.kind`, `line_items[].sku`: `analytics.payload_paths`).
        value: the value as typed.
        candidates: the JSON values that count as equal: the text itself (first, as typed) and its
            composed and decomposed forms (`unicode_forms`), the number or boolean it spells, and the
            masked form of each text when the key holds personal data (the log stores those masked,
            and the same value always masks the same).
        path: the key's steps (`parse_path`).
    """

    key: str
    value: str
    candidates: tuple[Any, ...]
    path: tuple[str, ...]

    @property
    def personal(self) -> bool:
        """Whether the value searched for is personal data, so matches through its mask
        (`is_personal_path`)."""
        return is_personal_path(self.path)


@dataclass(frozen=True)
class AuditFilter:
    """What a reviewer narrowed the log to; unset fields do not narrow. All conditions combine.

    Attributes:
        since: recorded at or after (UTC).
        until: recorded before (UTC); `since` and `until` make a half-open range.
        type: `track` or `identify`.
        event: the event string.
        identify_spec: an identify call's spec (its class name), from `event` as `Identify: <name>`.
        statuses: any of these statuses.
        source: `application`, `tester` or `replay`.
        destination: where a tester send went: a destination's name (whatever its key was), or
            `name:fingerprint` as the log records it (that key only).
        actor: who sent it (tester and replay sends).
        user_id: the message's `userId`.
        project_id: the `proj_id` property.
        cluster_id: the `cluster_id` property.
        message_id: Segment's `messageId`.
        catalog_version: the catalog version that built the message.
        prop: a property search.
        outcome: an undelivered message's class (`OUTCOMES`); `statuses` holds its statuses.
        http_status: the HTTP status of the entry's latest outcome (the endpoint's answer).
        failed_attempts: only entries with a failed or dropped delivery attempt in the time range,
            which bounds their `recorded_at` too (`FAILED_ATTEMPTS`).
        replayed_attempts: only entries a replay re-sent in the time range (`REPLAYED_ATTEMPTS`).
        hidden_actions: actions (by name) left out whatever else matches: not a search of the
            reviewer's but what their role may not read (`analytics.actions.ACCOUNT_ACTIONS`).
    """

    since: datetime | None = None
    until: datetime | None = None
    type: str | None = None
    event: str | None = None
    identify_spec: str | None = None
    statuses: tuple[str, ...] = ()
    source: str | None = None
    destination: str | None = None
    actor: str | None = None
    user_id: str | None = None
    project_id: int | None = None
    cluster_id: int | None = None
    message_id: str | None = None
    catalog_version: str | None = None
    prop: PropertyMatch | None = None
    outcome: str | None = None
    http_status: int | None = None
    failed_attempts: bool = False
    replayed_attempts: bool = False
    hidden_actions: tuple[str, ...] = ()

    @property
    def sections(self) -> tuple[str, ...]:
        """The payload sections a property search looks in, given the type filter."""
        if self.type == "track":
            return ("properties",)
        if self.type == "identify":
            return ("traits",)
        return ("properties", "traits")


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in the newest-first order: the `(recorded_at, id)` of one entry.

    Attributes:
        recorded_at: the entry's time, in UTC.
        id: the entry's row id, which breaks ties between entries of the same microsecond.
    """

    recorded_at: datetime
    id: int

    @classmethod
    def of(cls, entry: AuditEntry) -> Cursor:
        """The position of an entry."""
        return cls(as_utc(entry.recorded_at), entry.id)

    def encode(self) -> str:
        """The URL form, readable by a person: `2026-11-23T14:00:00.123456Z_42`."""
        return f"{self.recorded_at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}_{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse the URL form.

        Raises:
            ValueError: it is not one.
        """
        when, _, row_id = text.rpartition("_")
        try:
            position = cls(as_utc(datetime.fromisoformat(when)), int(row_id)) if is_id_text(row_id) else None
        except ValueError:
            position = None
        if position is None or not 0 <= position.id <= MAX_ID:  # a row id the database can compare
            raise ValueError(f"{text!r} is not a position in the log")
        return position


def is_personal_path(path: tuple[str, ...]) -> bool:
    """Whether a search's path leads to personal data: the key it ends at is personal, as a property
    of that name is (`is_personal_key`).

    A spec's personal field is named by its path (`payment_method.cardholder_name`), whose last key
    `CATALOG.personal_data_names` holds; a key of such a name, or named like personal data, where no
    spec speaks for it (a tester's off-schema property, inside an application's free-form value) is
    masked at any depth (`analytics.catalog.personal_paths`). Either way the log holds that value
    masked, wherever it sits.
    """
    return is_personal_key(last_key(path))


def parse_property_match(text: str, *, mask_key: bytes | None = None) -> PropertyMatch:
    """Parse `key = value` into the JSON values it matches.

    The key is a property's name or a path to a nested value (`payment_method.kind`,
    `line_items[].sku`), as the catalog's rows name them; a key that is not a name of letters, digits
    and `_` is written in double quotes (`"E-Mail" = x`), where an `=` is part of it. The match is
    exact, case included (`USER7@example.com` does not find `user7@example.com`), but for the
    booleans: `True` and `FALSE` mean JSON's `true` and `false`, and match that text too; and for
    Unicode's two spellings of an accented letter: `café` finds it composed and decomposed
    (`unicode_forms`).

    Args:
        text: the search as typed; spaces around `=` are ignored, the value may contain `=`.
        mask_key: the audit log's masking key; with it, a personal-data value also matches its
            masked form, so "did we send ada@example.com?" finds the masked entry (a key some spec
            marks as personal data, or named like it, as the tester masks off-schema properties).

    Raises:
        ValueError: no `=`, a key that is neither a property name nor a path, or a key or value holding
            text no entry can (a NUL, a surrogate: `analytics.storable_text`).
    """
    key, equals, value = (part.strip() for part in split_search(text))
    if not equals:
        raise ValueError("write the property search as key = value, e.g. cluster_type = eks")
    path = parse_path(key)
    # Quotes are JSON's way of saying "this text" (`cluster_type = "eks"`): they are not part of it.
    text = _json_scalar(value)
    text = text if isinstance(text, str) else value
    try:
        # `parse_filters` refuses a NUL as typed; JSON's escapes (`"\u0000"`, `"\ud800"`) spell one
        # only now, and neither the log nor a database's bind can hold it.
        check_storable(text)
    except ValueError as exc:
        raise ValueError(f"no entry can hold the value {json.dumps(text)}: {exc}") from None
    forms = unicode_forms(text)
    candidates: list[Any] = list(forms)
    spelled = _json_scalar(text)
    if spelled is _NOT_JSON and text.lower() in ("true", "false"):
        # Python and spreadsheets write JSON's booleans `True` and `FALSE`; the search is exact otherwise.
        spelled = text.lower() == "true"
    if spelled is None or isinstance(spelled, bool | int | float):
        candidates.append(spelled)
    if mask_key is not None and is_personal_path(path):
        candidates.extend(mask_value(form, mask_key) for form in forms)
    return PropertyMatch(key, value, tuple(candidates), path)


def unicode_forms(text: str) -> tuple[str, ...]:
    """`text` as typed, composed (NFC) and decomposed (NFD), each once: the texts a search for it finds.

    Neither the library nor the databases normalise what is recorded, and the same word reaches the
    log in either form: `café` with U+00E9 from most keyboards, `cafe` + U+0301 from macOS input and
    some copy-pastes. Each form is one more candidate of the same indexed test, so a search finds both
    without reading anything it did not read before; text without accents has one form.
    """
    return tuple(dict.fromkeys([text, *(unicodedata.normalize(form, text) for form in ("NFC", "NFD"))]))


_NOT_JSON = object()


def _json_scalar(text: str) -> Any:
    """The JSON value `text` spells (`"eks"` → eks, `9` → 9, `true`, `null`), or `_NOT_JSON`."""
    try:
        return load_json(text)
    except ValueError:
        return _NOT_JSON


def canonical_value(name: str, value: str) -> str:
    """A filter's value as the log spells it: `status=Failed,PENDING` is `failed,pending`, `--outcome
    Refused` is `refused` (`WORDED_FILTERS`), so the page, the API, the exports and the CLI read a word
    in any case, as `replay --status` always did, and show it lowercase. Any other value is kept as
    typed, so that its refusal quotes it.
    """
    words = WORDED_FILTERS.get(name)
    if words is None:
        return value
    spelled = {word.lower(): word for word in words}
    parts = value.split(",") if name in _MULTI_VALUED else [value]
    return ",".join(spelled.get(part.strip().lower(), part) for part in parts)


def _values(params: Mapping[str, str | Sequence[str]], name: str) -> list[str]:
    raw = params.get(name)
    values = [raw] if isinstance(raw, str) else list(raw or ())
    return [canonical_value(name, value.strip()) for value in values if value and value.strip()]


def _choice(value: str, allowed: Iterable[str], what: str) -> str:
    options = list(allowed)
    if value not in options:
        raise ValueError(f"unknown {what} {value!r}: one of {', '.join(options)}")
    return value


def _id_number(value: str) -> int:
    """An id as the catalog defines them: a whole number from 1 to `MAX_ID`, so no entry can match
    anything else and the search says so rather than quietly finding nothing.

    Written as a scope's id is (`is_id_text`): `int()` alone took `١٢` as project 12, `+1` as 1 and
    `1_000` as 1000, each an id the library refuses to send.
    """
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number") from None
    if not 1 <= number <= MAX_ID:
        raise ValueError(f"{number} is not an id: ids are whole numbers from 1 to {MAX_ID}")
    if not is_id_text(value):
        raise ValueError(f"{value!r} is not an id: ids are written with the digits 0-9 only")
    return number


IDENTIFY_PREFIX = "Identify: "
"""How lists name an identify call (`Identify: Register`); as an `event` filter it finds that call's
entries, which have no event string."""


def message_name(entry: AuditEntry) -> str:
    """The event string, for an identify call the name of the spec that built it, else the entry's
    type (`Purge`): what the audit list, an entry's heading and the tester's history call it."""
    if entry.type != "identify":
        return entry.event or entry.type.capitalize()
    return call_name(None, catalog_marker(entry.payload).get("spec"))


def call_name(event: str | None, spec: str | None) -> str:
    """An event string as it is, or the name of the identify spec `spec` (its constant)."""
    if event:
        return event
    for info in CATALOG.identifiers.values():
        if info.constant == spec:
            return f"{IDENTIFY_PREFIX}{info.name}"
    # A spec today's catalog lacks (an application's own, `ForeignSpecWarning`) is named by its class,
    # as `drift` reports it and the Event filter finds it.
    return f"{IDENTIFY_PREFIX}{spec}" if spec else "Identify"


def _identify_spec(value: str) -> str:
    """The spec class name of an identify call named `Identify: <name>`: a call of today's catalog by
    its name or class name, any other by its class name (a spec declared outside the catalog, which
    the log names and no catalog lists)."""
    name = value.removeprefix(IDENTIFY_PREFIX).strip()
    try:
        return CATALOG.identifier(name).constant
    except KeyError:
        if name.isidentifier():
            return name
        known = ", ".join(IDENTIFY_PREFIX + info.name for info in CATALOG.identifiers.values())
        raise ValueError(
            f"no identify call is named {name!r}: one of {known}, or a spec's class name"
            " (Identify: BoardlySignup for a spec declared outside the catalog)"
        ) from None


def _http_status(value: str) -> int:
    """An HTTP status code, checked so that a typo is reported rather than quietly matching nothing."""
    if not (value.isascii() and value.isdigit() and 100 <= int(value) <= 599):
        raise ValueError(f"{value!r} is not an HTTP status: a number from 100 to 599, e.g. 500")
    return int(value)


def _outcome_statuses(outcome: str | None, statuses: list[str], *, options: bool = False) -> list[str]:
    """The statuses a search for `outcome` reads: those ticked, or all that the class can have.

    A ticked status the class cannot have is refused, not dropped: `status=failed&status=pending&
    outcome=refused` listed the failed entries only, and `replay --status failed,pending --outcome
    refused` re-sent no pending one, without a word. The page, the API, the exports and both
    commands parse here, so each says so alike (`options`: in the command line's words).

    Raises:
        ValueError: a status ticked (or given as `--status`, with `options`) the class cannot have.
    """
    if outcome is None:
        return statuses
    possible = OUTCOMES[outcome]
    if not statuses:
        return list(possible)
    left_out = [status for status in dict.fromkeys(statuses) if status not in possible]
    if left_out:
        status, what = ("--status", "--outcome") if options else ("status", "outcome")
        named = " and ".join(repr(name) for name in left_out)
        it = "it" if len(left_out) == 1 else "them"
        raise ValueError(
            f"narrows {' and '.join(possible)} entries only: {named} in {status} would be left out; "
            f"drop {it} from {status}, or drop {what}"
        )
    return statuses


def _catalog_version(value: str) -> str:
    """A catalog version as messages carry it (`analytics.catalog.Catalog.version`), checked so that
    a mistyped one is reported rather than quietly matching nothing."""
    version = value.lower()
    if not _CATALOG_VERSION.fullmatch(version):
        raise ValueError(f"{value!r} is not a catalog version: 12 hex digits, as the page footer shows")
    return version


def _destination(value: str) -> str:
    """A destination as the log records it (`name` or `name:fingerprint`), checked so that a typo
    is reported rather than quietly matching nothing."""
    if not _DESTINATION.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a destination: a lowercase name such as staging, or name:fingerprint as the "
            "tester shows it"
        )
    return value


def parse_filters(
    params: Mapping[str, str | Sequence[str]],
    *,
    now: datetime | None = None,
    mask_key: bytes | None = None,
    options: bool = False,
) -> AuditFilter:
    """Turn query-string values (as typed in the dashboard or given to the CLI) into a filter.

    Empty values are ignored, so an untouched form field does not narrow anything. `range` and
    `since` both bound the start: the later of the two applies.

    Args:
        params: values by name (see `FILTER_PARAMS`); each a string or a list of strings.
            `status` takes several, repeated or comma-separated.
        now: the time relative ranges end at; the current time by default.
        mask_key: see `parse_property_match`.
        options: the values are command-line options: a refusal that says what to change gives the
            option as typed (`--status failed,dropped`), where the page's and the API's name the field.

    Raises:
        FilterError: every unusable value, by name.
    """
    errors: dict[str, str] = {}
    single: dict[str, str] = {}
    for name in FILTER_PARAMS:
        values = _values(params, name)
        if any("\x00" in value for value in values):
            # No entry can hold one, and PostgreSQL refuses it in a query's text.
            errors[name] = "cannot contain a NUL character"
        elif len(values) > 1 and name not in _MULTI_VALUED:
            errors[name] = "give one value"
        elif values:
            single[name] = values[0]

    def parsed(name: str, parse: Any) -> Any:
        if name not in single or name in errors:
            return None
        try:
            return parse(single[name])
        except ValueError as exc:
            errors[name] = str(exc)
            return None

    reference = now or datetime.now(UTC)
    since = parsed("since", lambda v: parse_instant(v, reference))
    until = parsed("until", lambda v: parse_instant(v, reference))
    relative = parsed("range", lambda v: RANGES[_choice(v, RANGES, "range")])
    if relative is not None:
        start = reference - relative
        since = start if since is None else max(since, start)
    if since is not None and until is not None and until <= since and "until" not in errors:
        errors["until"] = "must be after the start of the range"

    statuses = [
        status.strip() for value in _values(params, "status") for status in value.split(",") if status.strip()
    ]
    for status in statuses:
        try:
            _choice(status, (str(s) for s in AuditStatus), "status")
        except ValueError as exc:
            errors["status"] = str(exc)

    attempts = parsed("attempts", lambda v: _choice(v, ATTEMPTS_CHOICES, "attempts"))
    outcome = parsed("outcome", lambda v: _choice(v, OUTCOMES, "outcome"))
    if "status" not in errors:
        try:
            statuses = _outcome_statuses(outcome, statuses, options=options)
        except ValueError as exc:
            errors["outcome"] = str(exc)
    is_identify = single.get("event", "").startswith(IDENTIFY_PREFIX)
    result = AuditFilter(
        since=since,
        until=until,
        type=parsed("type", lambda v: _choice(v, TYPES, "type")),
        event=None if is_identify else single.get("event"),
        identify_spec=parsed("event", _identify_spec) if is_identify else None,
        statuses=tuple(dict.fromkeys(statuses)),
        source=parsed("source", lambda v: _choice(v, (str(s) for s in Source), "source")),
        destination=parsed("destination", _destination),
        actor=single.get("actor"),
        user_id=parsed("user_id", lambda v: str(_id_number(v))),
        project_id=parsed("project", _id_number),
        cluster_id=parsed("cluster", _id_number),
        message_id=single.get("message_id"),
        catalog_version=parsed("version", _catalog_version),
        prop=parsed("prop", lambda v: parse_property_match(v, mask_key=mask_key)),
        outcome=outcome,
        http_status=parsed("http_status", _http_status),
        failed_attempts=attempts == FAILED_ATTEMPTS,
        replayed_attempts=attempts == REPLAYED_ATTEMPTS,
    )
    if errors:
        raise FilterError(errors)
    return result


epoch_seconds = dialect_function(
    "epoch_seconds",
    BigInteger(),
    sqlite="CAST(strftime('%s', {0}) AS INTEGER)",
    # date_part is double precision; EXTRACT is numeric since PostgreSQL 14, a fifth slower over
    # the millions of rows an unfiltered histogram counts.
    postgresql="CAST(FLOOR(date_part('epoch', {0})) AS BIGINT)",
    doc="Whole seconds since 1970 of a timestamp column.",
)


class payload_property_equals(ColumnElement[bool]):
    """Whether a payload section holds one of the candidate JSON values at a path, type included.

    PostgreSQL uses JSONB containment (`payload @> '{"properties": {"k": v}}'`, and for a nested path
    `{"properties": {"line_items": [{"sku": v}]}}`: `analytics.payload_paths.containing`), which a GIN
    index on the payload can serve. SQLite compares `json_type` and `json_extract` at the path, and
    reads a list's items with `json_each`. A name followed by `.` reads an object or a list's items:
    both read each of the path's `spellings`, which say which at every step. Either way keys, paths
    and values are bound parameters,
    never SQL text. The element builds its SQL at compile time from its values, so SQLAlchemy must not
    reuse a compiled form across values: caching is off.
    """

    inherit_cache = False
    type = Boolean()

    def __init__(self, sections: Sequence[str], match: PropertyMatch) -> None:
        self.sections = tuple(sections)
        self.property_match = match


def _json_type(value: Any) -> str:
    """SQLite's `json_type()` name of a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "real"
    return "text"


@compiles(payload_property_equals)
def _property_postgresql(element: payload_property_equals, compiler: SQLCompiler, **kw: Any) -> str:
    payload = type_coerce(AuditEntry.payload, JSONB)
    match = element.property_match
    clauses = [
        payload.contains({section: containing(path, value)})
        for section in element.sections
        for path in spellings(match.path)
        for value in match.candidates
    ]
    return f"({compiler.process(or_(false(), *clauses), **kw)})"


@compiles(payload_property_equals, "sqlite")
def _property_sqlite(element: payload_property_equals, compiler: SQLCompiler, **kw: Any) -> str:
    match = element.property_match
    clauses = [
        _sqlite_holds(f"$.{section}", path, match.candidates)
        for section in element.sections
        for path in spellings(match.path)
    ]
    return f"({compiler.process(or_(false(), *clauses), **kw)})"


def _sqlite_holds(section: str, steps: tuple[str, ...], candidates: Sequence[Any]) -> Any:
    """Whether the payload holds one of `candidates` at `steps` below the JSON path `section`.

    Keys are quoted into the path (`$.properties."payment_method"."kind"`, `_sqlite_label`). A list's
    items are the rows of `json_each`, each continuing from its own path (`…"line_items"[2]`), all
    through the one payload so that an item of another shape is simply not there. The value must be a
    list first: `json_each` would walk an object's members or a plain value as well. A key no path can
    spell (one holding `"`) is the member of that name among the object's rows of `json_each`, whose
    value the rest of the path reads (`_member`). The rows along the path are joined in one subquery
    rather than nested ones: SQLite's parser runs out of stack at a dozen nested `EXISTS`.
    """
    document: Any = AuditEntry.payload
    path: str | ColumnElement[str] = section
    items: Any = None
    along: list[ColumnElement[bool]] = []
    leaf: ColumnElement[bool] | None = None
    for at, step in enumerate(steps):
        if step != ITEMS and _has_label(step):
            path = path + f".{_sqlite_label(step)}"
            continue
        along.append(func.json_type(document, path) == ("array" if step == ITEMS else "object"))
        each = func.json_each(document, path).table_valued(*_JSON_EACH).alias()
        items = each if items is None else items.join(each, true())
        if step == ITEMS:
            path = each.c.fullkey
            continue
        along.append(each.c.key == step)
        if at + 1 == len(steps):
            leaf = or_(false(), *(_member_equals(each, value) for value in candidates))
        else:
            document, path = _member(each), "$"
    if leaf is None:
        leaf = or_(false(), *(_sqlite_equals(document, path, value) for value in candidates))
    if items is None:
        return leaf
    any_item = select(literal(1)).select_from(items).where(*along[1:], leaf)
    return and_(along[0], any_item.exists())


_JSON_EACH: tuple[ColumnClause[Any], ...] = (
    column("key", String),
    column("fullkey", String),
    column("type", String),
    column("atom"),
    column("value"),
)
"""The columns of `json_each` the search reads: a row's key (decoded text), its path from the
document's top, its JSON type, its plain value (NULL for a list or an object) and its value (JSON
text for a list or an object)."""


def _has_label(key: str) -> bool:
    """Whether SQLite's JSON paths can spell `key`: a quoted label ends at the next `"`, escaped or
    not (3.40 and 3.45 alike), so a key holding one has no label and is read through `json_each`."""
    return '"' not in key


def _member(each: Any) -> ColumnElement[Any]:
    """A `json_each` row's value as a JSON document, for the path's next steps: a list or an object is
    JSON text, a plain value is not (`eks`, not `"eks"`) and has no steps below it, so it is NULL,
    where every JSON function reads nothing."""
    return case((each.c.type.in_(("array", "object")), each.c.value))


def _member_equals(each: Any, value: Any) -> ColumnElement[bool]:
    """Whether a `json_each` row is `value`, its JSON type included, as `_sqlite_equals` compares."""
    same_type: ColumnElement[bool] = each.c.type == _json_type(value)
    if value is None or isinstance(value, bool):
        return same_type
    return and_(same_type, each.c.atom == value)


def _sqlite_label(key: str) -> str:
    """A key as a quoted step of SQLite's JSON path, spelt as the stored payload spells it.

    SQLite (3.40) compares a path's label with the key's text as written in the document, escapes and
    all, and SQLAlchemy stores the payload with `json.dumps`, which escapes every non-ASCII character:
    `größe` is stored as `"gr\\u00f6\\u00dfe"`, and only that spelling finds it. A key holding `"`
    cannot be a label at all (`_has_label`).
    """
    return json.dumps(key)


def _sqlite_equals(
    document: ColumnElement[Any], path: str | ColumnElement[str], value: Any
) -> ColumnElement[bool]:
    """Whether the JSON at `path` in `document` is `value`, its JSON type included (`9` is not `"9"`)."""
    same_type = func.json_type(document, path) == _json_type(value)
    if value is None or isinstance(value, bool):
        return same_type
    return and_(same_type, func.json_extract(document, path) == value)


def conditions(filters: AuditFilter) -> list[ColumnElement[bool]]:
    """The SQL conditions of every set filter on `AuditEntry`; all must hold.

    Also what other selections over a filtered view build on (a replay of what a reviewer found).
    """
    entry = AuditEntry
    equal: list[tuple[Any, Any]] = [
        (entry.type, filters.type),
        (entry.event, filters.event),
        (entry.source, filters.source),
        (entry.actor, filters.actor),
        (entry.user_id, filters.user_id),
        (entry.project_id, filters.project_id),
        (entry.cluster_id, filters.cluster_id),
        (entry.message_id, filters.message_id),
        (entry.catalog_version, filters.catalog_version),
    ]
    clauses: list[ColumnElement[bool]] = [column == value for column, value in equal if value is not None]
    if filters.since is not None:
        clauses.append(entry.recorded_at >= filters.since)
    if filters.until is not None:
        clauses.append(entry.recorded_at < filters.until)
    if filters.statuses:
        clauses.append(entry.status.in_(filters.statuses))
    if filters.destination is not None:
        clauses.append(_destination_clause(filters.destination))
    if filters.identify_spec is not None:
        clauses.append(identify_call(filters.identify_spec))
    if filters.prop is not None:
        clauses.append(payload_property_equals(filters.sections, filters.prop))
    if filters.http_status is not None:
        clauses.append(entry.http_status == filters.http_status)
    if filters.outcome is not None:
        clauses.append(_outcome_clause(filters.outcome))
    if filters.failed_attempts:
        clauses.append(_had_failed_attempt(filters.since, filters.until))
    if filters.replayed_attempts:
        clauses.append(_was_replayed(filters.since, filters.until))
    if filters.hidden_actions:
        clauses.append(without_actions(filters.hidden_actions))
    return clauses


def may_have_arrived_entries() -> ColumnElement[bool]:
    """Whether an undelivered entry may be with the endpoint all the same: its latest outcome, or any
    earlier attempt, failed without an HTTP answer in a way that leaves open that the endpoint has the
    message (`analytics.network_errors.may_have_arrived_clause`). The `may_have_arrived` outcome, what
    the health page counts apart from the refusals, and what a replay counts as a possible second
    copy: a read timeout followed by a re-send that got an HTTP 500 left the first copy with the
    endpoint, so that entry is not one that "never arrived" (the latest outcome alone said it was).

    Decided in SQL, row by row, so that a search runs no query before its page: it read the distinct
    error texts of every unanswered failure in its range first, which took 110-190 ms at a million
    entries, ten to fifty times its page, on every keystroke, page and export. The attempts are read
    only for undelivered entries, one probe of the attempts' message id index each.
    """
    return and_(
        AuditEntry.status.in_(FAILED_OUTCOMES),
        or_(
            and_(AuditEntry.http_status.is_(None), may_have_arrived_clause(AuditEntry.error)),
            attempt_may_have_arrived(AuditEntry.message_id),
        ),
    )


def attempt_may_have_arrived(message_id: SQLColumnExpression[str]) -> ColumnElement[bool]:
    """Whether any delivery attempt of the message failed in a way that may have reached the endpoint
    (an EXISTS by the attempts' message id index)."""
    return exists().where(DeliveryAttempt.message_id == message_id, unanswered_attempt_may_have_arrived())


def unanswered_attempt_may_have_arrived() -> ColumnElement[bool]:
    """Whether a delivery attempt got no HTTP answer and failed in a way that leaves open that the
    endpoint has the message (`analytics.network_errors.may_have_arrived_clause`).

    The HTTP status decides first: an answered attempt's error is the endpoint's own text
    (`code: message`), so a gateway's 504 with the code `ReadTimeout` reads like a read timeout, yet
    the endpoint answered, and refused.
    """
    return and_(DeliveryAttempt.http_status.is_(None), may_have_arrived_clause(DeliveryAttempt.error))


def _outcome_clause(outcome: str) -> ColumnElement[bool]:
    """Whether an undelivered entry is of the class `outcome`; its statuses are `AuditFilter.statuses`.

    `may_have_arrived_entries` is never NULL, so its negation holds for every other entry."""
    arrived = may_have_arrived_entries()
    return arrived if outcome == MAY_HAVE_ARRIVED else not_(arrived)


def _had_failed_attempt(since: datetime | None, until: datetime | None) -> ColumnElement[bool]:
    """Whether the entry had a failed or dropped delivery attempt in the time range.

    A semi-join (`message_id IN (…)`) rather than a correlated `EXISTS`: the failed attempts of the
    range are one range of `ix_delivery_attempts_outcome_attempted_at` per outcome, and the entries
    are found from them by message id, so a search costs what the incident holds. An `EXISTS` probed
    the attempts for every entry of the range instead: its count read the whole log (a second at
    200,000 entries, where this takes a tenth), and "re-sent and now delivered" walked every delivered
    entry to find the few.
    """
    attempt = DeliveryAttempt
    query = select(attempt.message_id).where(attempt.outcome.in_(FAILED_OUTCOMES))
    if since is not None:
        query = query.where(attempt.attempted_at >= since)
    if until is not None:
        query = query.where(attempt.attempted_at < until)
    return AuditEntry.message_id.in_(query)


def _was_replayed(since: datetime | None, until: datetime | None) -> ColumnElement[bool]:
    """Whether a replay re-sent the entry in the time range: the same semi-join as
    `_had_failed_attempt`, over the partial index `ix_delivery_attempts_replay_attempted_at`."""
    attempt = DeliveryAttempt
    query = select(attempt.message_id).where(attempt.source == Source.REPLAY.value)
    if since is not None:
        query = query.where(attempt.attempted_at >= since)
    if until is not None:
        query = query.where(attempt.attempted_at < until)
    return AuditEntry.message_id.in_(query)


def without_actions(names: Sequence[str]) -> ColumnElement[bool]:
    """Every entry but the actions named: messages and purge records stay, whatever their event."""
    return not_(and_(AuditEntry.type == ACTION_TYPE, AuditEntry.event.in_(names)))


def identify_call(spec: str) -> ColumnElement[bool]:
    """The entries of one identify call: they carry no event string, only the spec's class name
    (one range of the partial index `ix_audit_entries_identify_spec_recorded_at`)."""
    return and_(AuditEntry.type == IDENTIFY_TYPE, called_spec(AuditEntry.payload) == spec)


def identify_specs_outside_query(known: Iterable[str]) -> Select[str]:
    """The class names of the identify specs the log holds calls of but `known` (today's catalog's):
    what `drift` reports as `unknown-identify`, offered by the Event filter as `Identify: <class>`.

    Read as a loose index scan of `ix_audit_entries_identify_spec_recorded_at` (migration 0015): each
    step seeks the first spec after the last, so it reads one index entry per distinct spec, not one
    per call; a DISTINCT would read every identify call's entry on each page load.
    """
    spec = called_spec(AuditEntry.payload)
    identify = AuditEntry.type == IDENTIFY_TYPE
    specs = select(func.min(spec).label("spec")).where(identify).cte("identify_specs", recursive=True)
    following = select(func.min(spec)).where(identify, spec > specs.c.spec).scalar_subquery()
    specs = specs.union_all(select(following).where(specs.c.spec.is_not(None)))
    return (
        select(specs.c.spec)
        .where(specs.c.spec.is_not(None), specs.c.spec.not_in(sorted(set(known))))
        .order_by(specs.c.spec)
    )


def _destination_clause(destination: str) -> ColumnElement[bool]:
    """One recorded destination, or a name under any of its keys (`name`, `name:<fingerprint>`).

    A name is the index range from `name` to `name;` (`;` follows `:`), which also holds other
    names that merely start with it (`staging2`); the second condition leaves those out.
    """
    column = AuditEntry.destination
    if ":" in destination:
        return column == destination
    return and_(
        column >= destination,
        column < destination + ";",
        or_(column == destination, column.startswith(destination + ":", autoescape=True)),
    )


def filtered(query: Select[*Ts], filters: AuditFilter) -> Select[*Ts]:
    """Narrow a query on `audit_entries` by every set filter."""
    return query.where(*conditions(filters))


def _older_than(cursor: Cursor) -> ColumnElement[bool]:
    # Spelled out rather than as a row-value comparison so that the leading `recorded_at <=` is a
    # plain range condition every `(column, recorded_at)` index can use.
    at = AuditEntry.recorded_at
    return and_(at <= cursor.recorded_at, or_(at < cursor.recorded_at, AuditEntry.id < cursor.id))


def _newer_than(cursor: Cursor) -> ColumnElement[bool]:
    at = AuditEntry.recorded_at
    return and_(at >= cursor.recorded_at, or_(at > cursor.recorded_at, AuditEntry.id > cursor.id))


def _not_older_than(cursor: Cursor) -> ColumnElement[bool]:
    at = AuditEntry.recorded_at
    return and_(at >= cursor.recorded_at, or_(at > cursor.recorded_at, AuditEntry.id >= cursor.id))


def _not_newer_than(cursor: Cursor) -> ColumnElement[bool]:
    at = AuditEntry.recorded_at
    return and_(at <= cursor.recorded_at, or_(at < cursor.recorded_at, AuditEntry.id <= cursor.id))


def _bounds(*clauses: ColumnElement[bool] | None) -> ColumnElement[bool] | None:
    present = [clause for clause in clauses if clause is not None]
    return and_(*present) if present else None


def newest_first(
    filters: AuditFilter, *, before: Cursor | None = None, limit: int, stop: Cursor | None = None
) -> Select[AuditEntry]:
    """Matching entries newest first, strictly older than `before` when given, and no older than the
    entry at `stop` (see `scan_stop`).

    Ask for one row more than a page to learn whether an older page exists.
    """
    bound = _bounds(
        None if before is None else _older_than(before), None if stop is None else _not_older_than(stop)
    )
    return _page(filters, bound, descending=True, limit=limit)


def oldest_first_after(
    filters: AuditFilter, after: Cursor | None, *, limit: int, stop: Cursor | None = None
) -> Select[AuditEntry]:
    """Matching entries strictly newer than `after`, oldest first: newer pages and the live tail; no
    newer than the entry at `stop` when given (see `scan_stop`).

    Without a cursor it starts at the beginning of the log.
    """
    bound = _bounds(
        None if after is None else _newer_than(after), None if stop is None else _not_newer_than(stop)
    )
    return _page(filters, bound, descending=False, limit=limit)


def changed_after(
    filters: AuditFilter, after: Cursor | None, *, end: datetime, limit: int
) -> Select[AuditEntry]:
    """Matching entries whose outcome last changed after `after` and before `end`, in the order of
    `(changed_at, id)`: the changes feed.

    A `Cursor` here holds a change's time and its entry's row id. The keyset is the partial index
    `ix_audit_entries_changed_at_id`, so a page costs the same at any depth. An entry is listed at its
    latest change only: one that changes again moves past the cursor and is listed again.
    """
    changed = AuditEntry.changed_at
    query = filtered(select(AuditEntry), filters).where(changed.is_not(None), changed < end)
    if after is not None:
        query = query.where(
            changed >= after.recorded_at, or_(changed > after.recorded_at, AuditEntry.id > after.id)
        )
    return query.options(undefer(changed)).order_by(changed, AuditEntry.id).limit(limit)


def scan_stop(
    filters: AuditFilter, *, before: Cursor | None = None, after: Cursor | None = None, most: int
) -> Select[int, datetime]:
    """The position (`id`, `recorded_at`) of the `most`-th entry a page would read, matching the
    property or not: newest first and older than `before`, or oldest first and newer than `after`,
    with the entry after it when there is one; no row when there are fewer (stop only when an entry
    is left unread).

    What bounds a search that no index narrows (a property search without a start time): its page
    reads no further than this entry, so a value no entry holds costs `most` payloads, not the whole
    log. The entries counted are the ones the page reads, through the same indexes: every filter but
    the property's holds (the time range, the indexed filters, the actions a role may not see), so
    the stop lies in the searched range and "read 20,000 entries" counts what the page read.
    """
    bound = _newer_than(after) if after is not None else None if before is None else _older_than(before)
    read = _page(replace(filters, prop=None), bound, descending=after is None, limit=most + 1, positions=True)
    return read.offset(most - 1).limit(2)


def scan_end(filters: AuditFilter, *, after: Cursor | None, most: int) -> Select[int, datetime]:
    """The position of the first entry recorded later than the one an oldest-first read after `after`
    stops at (`scan_stop`); no row when there is none.

    Its time bounds such a read by time alone (an `until`): the read then holds the `most` entries and
    those sharing the last one's time (a batch is stamped with one), and the next read, from that
    time (`Cursor(time, 0)`), leaves none of them out and lists none again.
    """
    stop = scan_stop(filters, after=after, most=most).limit(1).subquery()
    later = AuditEntry.recorded_at > select(stop.c.recorded_at).scalar_subquery()
    return _page(replace(filters, prop=None), later, descending=False, limit=1, positions=True)


def positions_after(filters: AuditFilter, after: Cursor | None, *, limit: int) -> Select[int, datetime]:
    """The id and time of the matching entries strictly newer than `after`, oldest first.

    What the live tail reads again at every poll to find the few entries it has not listed: their
    payloads are read for those alone.
    """
    bound = None if after is None else _newer_than(after)
    return _page(filters, bound, descending=False, limit=limit, positions=True)


def _page(
    filters: AuditFilter,
    bound: ColumnElement[bool] | None,
    *,
    descending: bool,
    limit: int,
    positions: bool = False,
) -> Select[Any]:
    """One page in time order; several statuses are read as one index-ordered page each, merged.

    `status IN (a, b)` ordered by time cannot follow one `(status, recorded_at)` range: SQLite then
    walks the time index and looks every row's status up, so a page's cost grows with the log.
    A page per status, each from its own range, and the first `limit` of their union cost the same
    at any size, on both databases. With `positions`, the rows are `(id, recorded_at)` alone.
    """

    def one(part: AuditFilter) -> Select[Any]:
        columns: tuple[Any, ...] = (AuditEntry.id, AuditEntry.recorded_at) if positions else (AuditEntry,)
        query = filtered(select(*columns), part)
        if bound is not None:
            query = query.where(bound)
        return query.order_by(*_time_order(AuditEntry, descending)).limit(limit)

    if len(filters.statuses) < 2:
        return one(filters)
    pages = [select(one(replace(filters, statuses=(status,))).subquery()) for status in filters.statuses]
    merged = union_all(*pages).subquery()
    if positions:
        return (
            select(merged.c.id, merged.c.recorded_at)
            .order_by(*_time_order(merged.c, descending))
            .limit(limit)
        )
    entry = aliased(AuditEntry, merged)
    return select(entry).order_by(*_time_order(entry, descending)).limit(limit)


def _time_order(entry: Any, descending: bool) -> tuple[Any, Any]:
    if descending:
        return entry.recorded_at.desc(), entry.id.desc()
    return entry.recorded_at.asc(), entry.id.asc()


@dataclass(frozen=True)
class Page:
    """One page of entries, newest first, and where the neighbouring pages start.

    Attributes:
        entries: the page's entries.
        older: continue with `before=older`; None on the last page.
        newer: continue with `after=newer`; None on the newest page.
        stopped_at: where a bounded scan (`scan_stop`) stopped, short of the end of the log in the
            page's direction, with fewer matches than a page; None when it read to the end or
            filled the page.
    """

    entries: list[AuditEntry]
    older: Cursor | None = None
    newer: Cursor | None = None
    stopped_at: Cursor | None = None


def page_from(
    rows: Sequence[AuditEntry],
    *,
    size: int,
    before: Cursor | None,
    after: Cursor | None,
    stop: Cursor | None = None,
) -> Page:
    """Build a page from the `size + 1` rows of `newest_first` (or `oldest_first_after` with `after`).

    With `stop` (the query's `stop`), a page that is not full has read up to that entry and stopped
    short of the end of the log: the pager continues from there (`stopped_at` says so).
    """
    if after is not None:
        entries = list(rows[:size])[::-1]
        more_newer = len(rows) > size
        newer = Cursor.of(entries[0]) if more_newer else stop
        stopped = None if more_newer else stop
        return Page(
            entries, older=Cursor.of(entries[-1]) if entries else after, newer=newer, stopped_at=stopped
        )
    entries = list(rows[:size])
    full = len(rows) > size
    older = Cursor.of(entries[-1]) if full else stop
    # An empty page (a stretch of a stopped scan, or past the last match) leads back to where it came from.
    newer = None if before is None else Cursor.of(entries[0]) if entries else before
    return Page(entries, older=older, newer=newer, stopped_at=None if full else stop)


def newest_times(filters: AuditFilter, *, limit: int) -> Select[datetime, str]:
    """The time and status of the newest `limit` matching entries, newest first.

    What a search that cannot be counted cheaply counts instead (a property search over the whole
    log reads every payload): read in time order, it stops once `limit` entries have matched.
    """
    query = select(AuditEntry.recorded_at, AuditEntry.status)
    return filtered(query, filters).order_by(*_time_order(AuditEntry, True)).limit(limit)


def summary(filters: AuditFilter) -> Select[int, datetime, datetime]:
    """How many entries match, and the first and last time one was recorded."""
    query = select(func.count(), func.min(AuditEntry.recorded_at), func.max(AuditEntry.recorded_at))
    return filtered(query, filters)


# Bucket widths a person reads easily, in seconds: from 1 s to 30 days.
_NICE_WIDTHS = (
    1, 2, 5, 10, 15, 30,
    60, 120, 300, 600, 900, 1800,
    3600, 7200, 10800, 21600, 43200,
    86400, 172800, 604800, 1209600, 2592000,
)  # fmt: skip


def bucket_width(start: datetime, end: datetime, *, max_buckets: int = 60) -> int:
    """The smallest readable bucket width (seconds) that covers `start`–`end` in `max_buckets` bars."""
    span = max((end - start).total_seconds(), 1)
    for width in _NICE_WIDTHS:
        if span / width <= max_buckets:
            return width
    return int(span // max_buckets) + 1


def histogram(filters: AuditFilter, width: int) -> Select[int, str, int]:
    """Matching entries counted per time bucket and status.

    Buckets are `width` seconds, aligned to the epoch so that their edges are round times; the
    bucket number times `width` is its start in epoch seconds.
    """
    # The width is one of our own integers; inlined so that SELECT and GROUP BY are one expression.
    bucket = (epoch_seconds(AuditEntry.recorded_at) // literal_column(str(int(width)), BigInteger)).label(
        "bucket"
    )
    query = select(bucket, AuditEntry.status, func.count())
    return filtered(query, filters).group_by(bucket, AuditEntry.status).order_by(bucket)


EXPORT_COLUMNS = (
    "message_id",
    "recorded_at",
    "timestamp",
    "type",
    "event",
    "status",
    "status_changed_at",
    "source",
    "destination",
    "actor",
    "user_id",
    "project_id",
    "cluster_id",
    "catalog_version",
    "http_status",
    "error",
    "payload",
    "spec",
)
"""The columns of an export, in order: everything a reviewer needs, without internal row ids.

`spec` is not a table column: it is the spec class that built the message, read from the payload's
catalog marker (`context.eventCatalog.spec`), the one field that tells identify calls (`event`
null) apart. It comes last so that scripts reading the earlier columns by position keep working."""

TIME_COLUMNS = frozenset({"recorded_at", "timestamp", "status_changed_at"})
"""The export columns that hold times."""


def delivery_attempts(message_id: str) -> Select[DeliveryAttempt]:
    """A message's delivery attempts, oldest first."""
    query = select(DeliveryAttempt).where(DeliveryAttempt.message_id == message_id)
    return query.order_by(DeliveryAttempt.attempted_at, DeliveryAttempt.id)
