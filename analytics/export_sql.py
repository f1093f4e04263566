"""The export's text, written by the database: ISO times and NDJSON lines as SQL expressions.

An export of a million entries spends its time in per-row Python (turning each time into a
`datetime` and back into text, encoding each line's head with `json`) unless the database hands
over the text ready-made, which it does in C at the speed of its own dump. So the two things an
export formats — a time, and a column as a JSON value — are SQL constructs compiled per dialect
(`analytics.sql_functions` declares them), and the export selects text.

The text is exactly what `analytics.export` wrote from Python before, which the tests check
against `json.dumps` on both databases: times as `datetime.isoformat()` in UTC (microseconds only
when there are any), JSON strings escaped as `json.dumps(..., ensure_ascii=False)` escapes them
(both databases escape the same characters the same way, and leave the rest as UTF-8).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Dialect, Select, String, Text, case, cast, func, literal, select

from analytics.audit import AuditEntry, DeliveryAttempt
from analytics.queries import EXPORT_COLUMNS, TIME_COLUMNS, AuditFilter, filtered
from analytics.spreadsheet import FORMULA_STARTS
from analytics.sql_functions import dialect_function

iso_utc = dialect_function(
    "iso_utc",
    Text(),
    # SQLAlchemy stores SQLite times as UTC text, `YYYY-MM-DD HH:MM:SS.ffffff`.
    sqlite="replace(replace({0}, ' ', 'T') || '+00:00', '.000000+', '+')",
    # timezone('UTC', …) pins the wall clock to UTC whatever the session's time zone. Python omits
    # a zero fraction, which to_char cannot; one to_char and a replace cost a third of three to_chars.
    postgresql=(
        "replace(to_char(timezone('UTC', {0}), 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'), '.000000+', '+')"
    ),
    doc="A stored time as `datetime.isoformat()` writes it in UTC: `2026-11-23T14:00:00.123456+00:00`.",
)

json_value = dialect_function(
    "json_value",
    Text(),
    sqlite="json_quote({0})",
    postgresql="COALESCE(to_json({0})::text, 'null')",
    doc="A text or integer column as JSON text: a quoted, escaped string, a number, or `null`.",
)

spec_text = dialect_function(
    "spec_text",
    Text(),
    # Only a JSON string names a spec class: a hand-built message may put any JSON there, which each
    # database would turn into text its own way (`true` is 1 on SQLite, "true" on PostgreSQL).
    sqlite=(
        "CASE WHEN json_type({0}, '$.context.eventCatalog.spec') = 'text' "
        "THEN json_extract({0}, '$.context.eventCatalog.spec') END"
    ),
    # Path walks over the stored JSONB (no parse): the `->` chain that the identify index spells
    # (`analytics.audit.called_spec`) copies the context and marker objects on its way, for every row
    # of the export.
    postgresql=(
        "CASE WHEN jsonb_typeof({0} #> '{{context,eventCatalog,spec}}') = 'string' "
        "THEN {0} #>> '{{context,eventCatalog,spec}}' END"
    ),
    doc=(
        "The spec class named by a stored message's catalog marker, as text; NULL when it names none, "
        "or names it with anything but a JSON string (`analytics.export.marker_spec`)."
    ),
)

text_format = dialect_function(
    "text_format",
    Text(),
    # printf is SQLite's name for it before 3.38 and an alias since.
    sqlite="printf({0})",
    postgresql="format({0})",
    doc=(
        "`format(template, values…)`: each `%s` of the template replaced by the next value's text; "
        "one call builds a line in one allocation, where a chain of `||` copies it once per piece."
    ),
)


def _formula_guard(character: str) -> str:
    """`spreadsheet_safe` in SQL, with `character(n)` spelling a tab and a carriage return."""
    starts = ", ".join(
        f"'{start}'" if start.isprintable() else f"{character}({ord(start)})" for start in FORMULA_STARTS
    )
    return f"CASE WHEN substr({{0}}, 1, 1) IN ({starts}) THEN '''' || {{0}} ELSE {{0}} END"


spreadsheet_text = dialect_function(
    "spreadsheet_text",
    Text(),
    sqlite=_formula_guard("char"),
    postgresql=_formula_guard("chr"),
    doc=(
        "A text column as `analytics.spreadsheet.spreadsheet_safe` writes it, `'` before a formula's "
        "start: in the database, so a CSV export spends no Python on a row to check its cells."
    ),
)


def _cell(name: str) -> ColumnElement[Any]:
    """An export column as the text or number the export writes: times formatted, the payload as JSON
    text, the spec read from the payload."""
    if name == "spec":
        return spec_text(AuditEntry.__table__.c.payload)
    column: ColumnElement[Any] = AuditEntry.__table__.c[name]
    if name == "payload":
        return cast(column, Text)
    if name in TIME_COLUMNS:
        return iso_utc(column)
    return column


def _json(name: str) -> ColumnElement[str]:
    """An export column as a JSON value; the payload is JSON text already."""
    if name == "payload":
        return _cell(name)
    if name in TIME_COLUMNS:
        # An ISO time holds nothing JSON escapes: quoting it costs less than a JSON encoder.
        return func.coalesce(literal('"', Text) + _cell(name) + literal('"', Text), literal("null", Text))
    return json_value(_cell(name))


def _json_members(start: str, names: Sequence[str], end: str) -> ColumnElement[str]:
    """`start`, the export columns as JSON members (keys in order, separated as `json.dumps`
    separates them), then `end`: a whole JSON object, or the part of one around the payload."""
    # The keys are our own column names, so they hold neither a `%` nor anything JSON escapes.
    template = start + ", ".join(f"{json.dumps(name)}: %s" for name in names) + end
    return text_format(literal(template, Text), *(_json(name) for name in names))


ATTEMPTS_KEY = "attempts_key"
"""The name of the leading message-id column of an export that adds delivery attempts."""


REMASK_FLAG = "remask"
"""The name of the trailing column saying whether an entry's payload needs re-masking."""


ATTEMPT_FIELDS = ("attempted_at", "outcome", "http_status", "error", "latency_ms", "source", "actor")
"""A delivery attempt's fields as an export (and the API's entry) gives them, in order: what the entry
page's delivery history shows."""


def _newest_first(
    columns: list[ColumnElement[Any]],
    filters: AuditFilter,
    sealed: bool,
    attempts: bool = False,
    remasking: ColumnElement[bool] | None = None,
) -> Select[Any]:
    """The columns of every matching entry, newest first; with `sealed` its sealed personal data
    last, with `remasking` instead whether its payload needs re-masking (`analytics.remask`), with
    `attempts` its message id first (the key its delivery attempts are read by)."""
    table = AuditEntry.__table__
    key = [table.c.message_id.label(ATTEMPTS_KEY)] if attempts else []
    last: list[ColumnElement[Any]] = [remasking.label(REMASK_FLAG)] if remasking is not None else []
    last += [table.c.encrypted_personal_data] if sealed else []
    query = filtered(select(*key, *columns, *last), filters)
    return query.order_by(AuditEntry.recorded_at.desc(), AuditEntry.id.desc())


def _line_end(attempts: bool, newline: bool = True) -> str:
    """What ends an NDJSON line: left open after its last member when the export adds the attempts."""
    if attempts:
        return ""
    return "}\n" if newline else "}"


def _csv_cell(name: str) -> ColumnElement[Any]:
    """An export column as its CSV cell: text `spreadsheet_text`, as any of it may come from a sender
    (a raw message's `userId` or `messageId`, an account's email, an endpoint's error)."""
    cell = _cell(name)
    stored = AuditEntry.__table__.c.get(name)  # `spec`, read from the payload, is text and no column
    if name in TIME_COLUMNS or (stored is not None and not isinstance(stored.type, String)):
        return cell
    return spreadsheet_text(cell)


def csv_cells(
    filters: AuditFilter,
    *,
    sealed: bool = False,
    attempts: bool = False,
    remasking: ColumnElement[bool] | None = None,
) -> Select[Any]:
    """Every matching entry as its CSV cells (`EXPORT_COLUMNS`), newest first, for streaming.

    Each text cell a spreadsheet would run as a formula starts with `'` (`_csv_cell`); times, numbers
    and the payload's JSON object (which starts with `{`) cannot. The payload comes as the database's
    JSON text, not parsed, so an export can pass it on as is. With `sealed`, the sealed personal data
    follows as one more column, for an export that unmasks; with `attempts`, the message id leads the
    row, for the export to read the entries' delivery attempts by; with `remasking` (an SQL
    condition, `analytics.remask.needs_remask`), a last column says whether the payload needs it.
    """
    cells: list[ColumnElement[Any]] = [_csv_cell(name).label(name) for name in EXPORT_COLUMNS]
    return _newest_first(cells, filters, sealed, attempts, remasking)


REMASK_MARK = "!"
"""What starts the NDJSON line of an entry that `ndjson_lines(remasking=...)` selects for re-masking: a
line is otherwise a JSON object, which starts with `{`, and its strings hold no raw newline, so the
export finds the marked lines of a chunk without reading the others."""


def ndjson_lines(
    filters: AuditFilter,
    *,
    newline: bool = True,
    attempts: bool = False,
    remasking: ColumnElement[bool] | None = None,
) -> Select[Any]:
    """Every matching entry as its NDJSON line, newest first, for streaming.

    Args:
        filters: what to export.
        newline: end each line with its newline; without, for `COPY`, which ends each row with one.
        attempts: lead with the message id and leave the line open after `spec`, for the export to
            add the entry's delivery attempts and close it.
        remasking: an SQL condition (`analytics.remask.needs_remask`): the lines of the entries it
            selects start with `REMASK_MARK`, for the export to re-mask them, and the rest are final.
    """
    line: ColumnElement[str] = _json_members("{", EXPORT_COLUMNS, _line_end(attempts, newline))
    if remasking is not None:
        line = case((remasking, literal(REMASK_MARK, Text) + line), else_=line)
    return _newest_first([line.label("line")], filters, sealed=False, attempts=attempts)


def copy_statement(query: Select[Any], dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """A PostgreSQL `COPY (query) TO STDOUT` and its parameters, for psycopg's `Cursor.copy`.

    COPY takes no server-side parameters, so psycopg binds them on the client, as quoted literals;
    they are converted here as SQLAlchemy converts them for an execute (a JSONB value from a dict).
    """
    compiled = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = {}
    for name, value in compiled.params.items():
        # An IN list's values were expanded into `<name>_1`, `<name>_2`, …
        bind = compiled.binds[name if name in compiled.binds else name.rpartition("_")[0]]
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        params[name] = process(value) if process is not None else value
    return f"COPY ({compiled.string}) TO STDOUT", params


def ndjson_cells(
    filters: AuditFilter, *, attempts: bool = False, remasking: ColumnElement[bool] | None = None
) -> Select[Any]:
    """Every matching entry as its NDJSON line cut around the payload: the head, the payload, the
    tail, and its sealed data (with `remasking`, an SQL condition, whether it needs re-masking instead).

    The line is `head + payload + tail`, the head left open after `"payload": ` and the tail holding
    the members after it: an export that unmasks replaces the payload in between. With `attempts`,
    the message id leads the row and the tail is left open, as `ndjson_lines` leaves its line.
    """
    at = EXPORT_COLUMNS.index("payload")
    head = _json_members("{", EXPORT_COLUMNS[:at], ', "payload": ')
    tail = _json_members(", ", EXPORT_COLUMNS[at + 1 :], _line_end(attempts))
    cells: list[ColumnElement[Any]] = [
        head.label("head"),
        _cell("payload").label("payload"),
        tail.label("tail"),
    ]
    return _newest_first(cells, filters, sealed=remasking is None, attempts=attempts, remasking=remasking)


def attempts_of(message_ids: Sequence[str]) -> Select[Any]:
    """The delivery attempts of these messages, each message's oldest first: one query for a batch of
    exported entries, served by the attempts' `message_id` index."""
    table = DeliveryAttempt.__table__
    query = select(*(table.c[name] for name in ("message_id", *ATTEMPT_FIELDS)))
    query = query.where(table.c.message_id.in_(message_ids))
    return query.order_by(table.c.message_id, table.c.attempted_at, table.c.id)
