"""The export's text, written by the database: ISO times and NDJSON lines as SQL expressions.

An export of a million entries spends its time in per-row Python (turning each time into a
`datetime` and back into text, encoding each line's head with `json`) unless the database hands
over the text ready-made, which it does in C at the speed of its own dump. So the two things an
export formats — a time, and a column as a JSON value — are SQL constructs compiled per dialect
(as `analytics.queries` does for its two dialect differences), and the export selects text.

The text is exactly what `analytics.export` wrote from Python before, which the tests check
against `json.dumps` on both databases: times as `datetime.isoformat()` in UTC (microseconds only
when there are any), JSON strings escaped as `json.dumps(..., ensure_ascii=False)` escapes them
(both databases escape the same characters the same way, and leave the rest as UTF-8).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Dialect, Select, Text, cast, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from analytics.audit import AuditEntry
from analytics.queries import EXPORT_COLUMNS, TIME_COLUMNS, AuditFilter, filtered


class iso_utc(FunctionElement[str]):  # noqa: N801  (reads as the SQL function it renders)
    """A stored time as `datetime.isoformat()` writes it in UTC: `2026-11-23T14:00:00.123456+00:00`.

    NULL stays NULL.
    """

    type = Text()
    inherit_cache = True


@compiles(iso_utc, "postgresql")
def _iso_utc_postgresql(element: iso_utc, compiler: SQLCompiler, **kw: Any) -> str:
    # timezone('UTC', …) pins the wall clock to UTC whatever the session's time zone. Python omits
    # a zero fraction, which to_char cannot; one to_char and a replace cost a third of three to_chars.
    utc = f"timezone('UTC', {compiler.process(element.clauses, **kw)})"
    return f"replace(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'), '.000000+', '+')"


@compiles(iso_utc, "sqlite")
def _iso_utc_sqlite(element: iso_utc, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLAlchemy stores SQLite times as UTC text, `YYYY-MM-DD HH:MM:SS.ffffff`.
    text = compiler.process(element.clauses, **kw)
    return f"replace(replace({text}, ' ', 'T') || '+00:00', '.000000+', '+')"


class json_value(FunctionElement[str]):  # noqa: N801  (reads as the SQL function it renders)
    """A text or integer column as JSON text: a quoted, escaped string, a number, or `null`."""

    type = Text()
    inherit_cache = True


@compiles(json_value, "postgresql")
def _json_value_postgresql(element: json_value, compiler: SQLCompiler, **kw: Any) -> str:
    return f"COALESCE(to_json({compiler.process(element.clauses, **kw)})::text, 'null')"


@compiles(json_value, "sqlite")
def _json_value_sqlite(element: json_value, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_quote({compiler.process(element.clauses, **kw)})"


class text_format(FunctionElement[str]):  # noqa: N801  (reads as the SQL function it renders)
    """`format(template, values…)`: each `%s` of the template replaced by the next value's text.

    One call builds a line in one allocation, where a chain of `||` copies it once per piece.
    """

    type = Text()
    inherit_cache = True


@compiles(text_format, "postgresql")
def _text_format_postgresql(element: text_format, compiler: SQLCompiler, **kw: Any) -> str:
    return f"format({compiler.process(element.clauses, **kw)})"


@compiles(text_format, "sqlite")
def _text_format_sqlite(element: text_format, compiler: SQLCompiler, **kw: Any) -> str:
    # printf is SQLite's name for it before 3.38 and an alias since.
    return f"printf({compiler.process(element.clauses, **kw)})"


def _cell(name: str) -> ColumnElement[Any]:
    """An export column as the text or number the export writes: times formatted, the payload as JSON text."""
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


def _json_object(names: Sequence[str], end: str) -> ColumnElement[str]:
    """The JSON object of export columns, keys in order, written as `json.dumps` separates them."""
    # The keys are our own column names, so they hold neither a `%` nor anything JSON escapes.
    template = "{" + ", ".join(f"{json.dumps(name)}: %s" for name in names) + end
    return text_format(literal(template, Text), *(_json(name) for name in names))


def _newest_first(columns: list[ColumnElement[Any]], filters: AuditFilter, sealed: bool) -> Select[Any]:
    sealed_column = [AuditEntry.__table__.c.encrypted_personal_data] if sealed else []
    query = filtered(select(*columns, *sealed_column), filters)
    return query.order_by(AuditEntry.recorded_at.desc(), AuditEntry.id.desc())


def csv_cells(filters: AuditFilter, *, sealed: bool = False) -> Select[Any]:
    """Every matching entry as its CSV cells (`EXPORT_COLUMNS`), newest first, for streaming.

    The payload comes as the database's JSON text, not parsed, so an export can pass it on as is.
    With `sealed`, the sealed personal data follows as one more column, for an export that unmasks.
    """
    return _newest_first([_cell(name).label(name) for name in EXPORT_COLUMNS], filters, sealed)


def ndjson_lines(filters: AuditFilter, *, newline: bool = True) -> Select[str]:
    """Every matching entry as its NDJSON line, newest first, for streaming.

    Args:
        filters: what to export.
        newline: end each line with its newline; without, for `COPY`, which ends each row with one.
    """
    line = _json_object(EXPORT_COLUMNS, "}\n" if newline else "}")
    return _newest_first([line.label("line")], filters, sealed=False)


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


def ndjson_cells(filters: AuditFilter) -> Select[Any]:
    """Every matching entry as its NDJSON line cut before the payload, the payload, and its sealed data.

    The line is `head + payload + "}\n"`, the head left open after `"payload": `: an export that
    unmasks replaces the payload in between.
    """
    *columns, payload = EXPORT_COLUMNS
    head = _json_object(columns, f", {json.dumps(payload)}: ")
    return _newest_first([head.label("head"), _cell(payload).label(payload)], filters, sealed=True)
