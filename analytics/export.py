"""Export any filtered view of the audit log as CSV or NDJSON, streamed in constant memory.

An incident export can be millions of rows, so rows are never collected: they come from the database
in batches and leave as text chunks of one batch each. The dashboard streams the chunks as its HTTP
response; the CLI writes them to a file.

The database writes the text (`analytics.export_sql`): Python only joins it, or for CSV hands the
cells to the csv writer, so an export keeps up with the database's own dump. Batches come from a
cursor (`yield_per`: a server-side cursor on PostgreSQL), except for a plain NDJSON export on
PostgreSQL, which streams its lines with COPY. An export that unmasks personal data decodes and
re-encodes only the payloads it opens.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

import psycopg
from sqlalchemy import Connection, Engine, Result, Select

from analytics.audit import AuditEntry
from analytics.durations import as_utc
from analytics.export_sql import copy_statement, csv_cells, ndjson_cells, ndjson_lines
from analytics.messages import catalog_marker
from analytics.personal_data import PersonalDataCipher, SealError, unmask
from analytics.queries import EXPORT_COLUMNS, TIME_COLUMNS, AuditFilter

# Rows fetched per round trip: large enough that the round trips do not dominate, small enough
# that a batch (payloads up to Segment's 32 KB each) stays a few megabytes at worst.
BATCH_SIZE = 500


class ExportFormat(StrEnum):
    """The formats an export can be written in."""

    CSV = "csv"
    NDJSON = "ndjson"

    @property
    def media_type(self) -> str:
        """The HTTP `Content-Type` of the format."""
        return "text/csv; charset=utf-8" if self is ExportFormat.CSV else "application/x-ndjson"


BYTE_ORDER_MARK = "\ufeff"
"""What starts every CSV export, as the catalog's CSV (`utf-8-sig`): without it Excel (and Japanese
Excel, which assumes CP932) reads UTF-8 in the legacy code page, so `東京` or `Zürich` become mojibake.
Python's `utf-8-sig` and the csv readers of spreadsheets skip it."""


def entry_record(entry: AuditEntry, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """One loaded entry as its NDJSON export line holds it: `EXPORT_COLUMNS`, times in ISO 8601 UTC,
    the spec read from the stored payload (an unmasked `payload` names the same one).

    The export has the database write that line (`analytics.export_sql`); whatever hands out single
    entries as JSON (the dashboard's audit API) builds them here, and a test holds both to the same
    values, so a script reading either sees one shape.

    Args:
        entry: the entry.
        payload: the payload to give in place of the stored one (unmasked, for a reader allowed
            to see personal data); the stored one without it.
    """
    record: dict[str, Any] = {}
    for name in EXPORT_COLUMNS:
        if name == "spec":
            record[name] = marker_spec(entry.payload)
            continue
        value = getattr(entry, name)
        record[name] = as_utc(value).isoformat() if name in TIME_COLUMNS and value is not None else value
    if payload is not None:
        record["payload"] = payload
    return record


def marker_spec(payload: dict[str, Any]) -> str | None:
    """The spec class a stored message's catalog marker names, as the export's `spec` column gives it
    (`analytics.export_sql.spec_text`): only a string names one; a hand-built message may put any JSON
    there, and that is no spec."""
    spec = catalog_marker(payload).get("spec")
    return spec if isinstance(spec, str) else None


def _csv_chunks(batches: Iterator[list[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    buffer.write(BYTE_ORDER_MARK)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for rows in batches:
        writer.writerows(rows)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _ndjson_chunks(batches: Iterator[list[Any]]) -> Iterator[str]:
    for rows in batches:
        yield "".join([f"{head}{payload}{tail}" for head, payload, tail in rows])


def _line_chunks(batches: Iterator[list[Any]]) -> Iterator[str]:
    for rows in batches:
        yield "".join([line for (line,) in rows])


def _copied_chunks(connection: Connection, query: Select[Any], batch_size: int) -> Iterator[str]:
    """Stream `query`'s single text column from PostgreSQL with COPY, `batch_size` rows per chunk.

    COPY streams rows as the server produces them, which a cursor's FETCH round trips do not, and
    lets the server plan in parallel. Its text format escapes backslashes, tabs, newlines and
    carriage returns; JSON text holds no raw control character, so the only escape in a line is a
    doubled backslash, undone here. The server sends one message per row, each ending its line.
    """
    statement, params = copy_statement(query, connection.dialect)
    raw = connection.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        raise TypeError(f"COPY needs a psycopg connection, not {type(raw).__name__}")
    with raw.cursor() as cursor, cursor.copy(statement, params) as copy:
        rows: list[bytes] = []
        for row in copy:
            rows.append(bytes(row))
            if len(rows) == batch_size:
                yield b"".join(rows).decode().replace("\\\\", "\\")
                rows.clear()
        if rows:
            yield b"".join(rows).decode().replace("\\\\", "\\")


class Export:
    """The export of every entry matching a filter, newest first, as an iterable of text chunks.

    Iterating yields one chunk per batch; the connection is held while the caller iterates and
    released when the iteration ends or is closed (a client that disconnects mid-download closes it).

    Args:
        engine: the audit database.
        filters: what to export.
        export_format: CSV (a header row, then one row per entry, the payload as JSON in its cell)
            or NDJSON (one JSON object per line).
        batch_size: rows per round trip and per chunk.
        cipher: when given, payloads whose personal data was sealed leave with the original values
            in place of their masks (for readers allowed to see them); entries the cipher cannot
            open stay masked. Without it the payloads leave exactly as stored.

    Attributes:
        rows: entries written so far.
    """

    def __init__(
        self,
        engine: Engine,
        filters: AuditFilter,
        export_format: ExportFormat,
        *,
        batch_size: int = BATCH_SIZE,
        cipher: PersonalDataCipher | None = None,
    ) -> None:
        self.engine = engine
        self.cipher = cipher
        self.filters = filters
        self.format = export_format
        self.batch_size = batch_size
        self.rows = 0

    def _unmasked(self, row: Sequence[Any], at: int) -> list[Any]:
        """The row without its trailing sealed column, the payload (its cell `at`) unmasked when it opens."""
        *cells, sealed = row
        if sealed is not None and self.cipher is not None:
            try:
                payload = unmask(json.loads(cells[at]), sealed, self.cipher)
            except SealError:
                return cells
            cells[at] = json.dumps(payload, ensure_ascii=False)
        return cells

    def _batches(self, result: Result[Any]) -> Iterator[list[Any]]:
        # The queries of an unmasking export name the payload's cell `payload` (the spec follows it).
        at = list(result.keys()).index("payload") if self.cipher is not None else -1
        for partition in result.partitions():
            rows = list(partition) if self.cipher is None else [self._unmasked(row, at) for row in partition]
            self.rows += len(rows)
            yield rows

    def _copied(self, connection: Connection) -> Iterator[str]:
        query = ndjson_lines(self.filters, newline=False)
        for chunk in _copied_chunks(connection, query, self.batch_size):
            self.rows += chunk.count("\n")
            yield chunk

    def __iter__(self) -> Iterator[str]:
        with self.engine.connect() as connection:
            unmasking = self.cipher is not None
            if self.format is ExportFormat.CSV:
                query, chunks = csv_cells(self.filters, sealed=unmasking), _csv_chunks
            elif unmasking:
                query, chunks = ndjson_cells(self.filters), _ndjson_chunks
            elif connection.dialect.name == "postgresql":
                yield from self._copied(connection)
                return
            else:
                query, chunks = ndjson_lines(self.filters), _line_chunks
            result = connection.execution_options(yield_per=self.batch_size).execute(query)
            yield from chunks(self._batches(result))

    def write_to(self, out: TextIO) -> int:
        """Write the whole export to an open text file; returns the number of entries."""
        for chunk in self:
            out.write(chunk)
        return self.rows

    def save(self, path: Path) -> int:
        """Write the whole export to a file, which appears only once complete; returns the count.

        The rows go to `<path>.partial` first, so an interrupted export never leaves a file that
        looks like a finished one.
        """
        partial = path.with_name(path.name + ".partial")
        try:
            with partial.open("w", encoding="utf-8", newline="") as out:
                rows = self.write_to(out)
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
        return rows
