"""Export any filtered view of the audit log as CSV or NDJSON, streamed in constant memory.

An incident export can be millions of rows, so rows are never collected: they come from the database
in batches and leave as text chunks of one batch each. The dashboard streams the chunks as its HTTP
response; the CLI writes them to a file.

The database writes the text (`analytics.export_sql`): Python only joins it, or for CSV hands the
cells to the csv writer, so an export keeps up with the database's own dump. Batches come from a
cursor (`yield_per`: a server-side cursor on PostgreSQL), except for a plain NDJSON export on
PostgreSQL, which streams its lines with COPY. An export that unmasks personal data decodes and
re-encodes only the payloads it opens. An export for a reader without personal-data access re-masks
what entries hold in clear though today's catalog marks it personal data (`analytics.remask`): the
database selects the entries that may (`analytics.remask.needs_remask`), only those are decoded, and
in an NDJSON export their lines come marked among the others (`REMASK_MARK`), so COPY stays.
An export that includes the delivery attempts (asked for: it
costs one more query per batch) reads them per batch, one query for the batch's message ids, and
adds them to each line (NDJSON) or summarises them in more columns (CSV).
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import psycopg
from psycopg.abc import Buffer
from sqlalchemy import ColumnElement, Connection, Engine, Result, Row, Select
from sqlalchemy.orm import Session

from analytics.audit import FAILED_OUTCOMES, AuditEntry, DeliveryAttempt
from analytics.durations import as_utc
from analytics.export_sql import (
    ATTEMPT_FIELDS,
    REMASK_MARK,
    attempts_of,
    copy_statement,
    csv_cells,
    ndjson_cells,
    ndjson_lines,
)
from analytics.messages import catalog_marker
from analytics.personal_data import PersonalDataCipher, SealError, unmask
from analytics.queries import EXPORT_COLUMNS, TIME_COLUMNS, AuditFilter
from analytics.remask import needs_remask, remask
from analytics.spreadsheet import spreadsheet_safe

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


INCLUDE_ATTEMPTS = "attempts"
"""What an export's `include` (`--include` on the command line) names to add each entry's delivery
attempts: the one thing it takes, so that a later addition is another value of the same option."""

ATTEMPT_SUMMARY_COLUMNS = (
    "attempt_count",
    "first_failure_at",
    "first_failure_outcome",
    "first_failure_http_status",
    "first_failure_error",
    "last_attempt_at",
    "last_attempt_source",
    "last_attempt_actor",
)
"""The columns a CSV export that includes the attempts adds after `spec`: a cell holds one value, so
each entry's history is summed up as what an incident review asks of it. Which failure selected the
entry (the first failed or dropped attempt: an HTTP 500, a 429 drop, a timeout that may have arrived)
and what became of it since (the last attempt: a replay, by whom, when)."""


def attempt_record(attempt: DeliveryAttempt | Row[Any]) -> dict[str, Any]:
    """One delivery attempt as JSON, as the entry page's delivery history lists it: the NDJSON export's
    `attempts` and the API's entry give it in this one shape."""
    record = {name: getattr(attempt, name) for name in ATTEMPT_FIELDS}
    record["attempted_at"] = as_utc(attempt.attempted_at).isoformat()
    return record


def attempts_by_message(
    connection: Connection | Session, message_ids: Sequence[str]
) -> defaultdict[str, list[dict[str, Any]]]:
    """The delivery attempts of these messages (`attempt_record`s, each message's oldest first), read
    in one query: the export's batch and the API's answer each read theirs so, not one per entry."""
    found: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for attempt in connection.execute(attempts_of(message_ids)):
        found[attempt.message_id].append(attempt_record(attempt))
    return found


def attempt_summary(attempts: Sequence[dict[str, Any]]) -> list[Any]:
    """An entry's attempts (`attempt_record`s, oldest first) as its `ATTEMPT_SUMMARY_COLUMNS` cells,
    the texts spreadsheet-safe as every other text cell of the CSV."""
    failure = next((attempt for attempt in attempts if attempt["outcome"] in FAILED_OUTCOMES), {})
    last = attempts[-1] if attempts else {}
    cells = [
        failure.get("attempted_at"),
        failure.get("outcome"),
        failure.get("http_status"),
        _safe(failure.get("error")),
        last.get("attempted_at"),
        _safe(last.get("source")),
        _safe(last.get("actor")),
    ]
    return [len(attempts), *cells]


def _safe(text: str | None) -> str | None:
    return None if text is None else spreadsheet_safe(text)


def marker_spec(payload: dict[str, Any]) -> str | None:
    """The spec class a stored message's catalog marker names, as the export's `spec` column gives it
    (`analytics.export_sql.spec_text`): only a string names one; a hand-built message may put any JSON
    there, and that is no spec."""
    spec = catalog_marker(payload).get("spec")
    return spec if isinstance(spec, str) else None


def _csv_chunks(batches: Iterator[list[Any]], columns: Sequence[str]) -> Iterator[str]:
    buffer = io.StringIO()
    buffer.write(BYTE_ORDER_MARK)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
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


def _line_chunks(batches: Iterator[list[Any]], fix: Callable[[str], str] | None = None) -> Iterator[str]:
    for rows in batches:
        chunk = "".join([line for (line,) in rows])
        yield chunk if fix is None else fix(chunk)


def _attempts_member(attempts: list[dict[str, Any]]) -> str:
    """The `attempts` member that ends an entry's NDJSON line, separated as the line's others."""
    return f', "attempts": {json.dumps(attempts, ensure_ascii=False)}}}\n'


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
        rows: list[Buffer] = []
        for row in copy:
            rows.append(row)  # each row owns its buffer (libpq's, freed with the view), so no copy here
            if len(rows) == batch_size:
                yield _unescaped(b"".join(rows))
                rows.clear()
        if rows:
            yield _unescaped(b"".join(rows))


def _unescaped(lines: bytes) -> str:
    """COPY's text lines with their doubled backslashes undone.

    Most chunks hold no backslash at all, and looking for one byte costs a hundredth of the search
    for the pair (~0.8 us a 1 KB line, a third of the export's Python time on PostgreSQL).
    """
    if b"\\" in lines:
        lines = lines.replace(b"\\\\", b"\\")
    return lines.decode()


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
            open stay masked. Without it the payloads leave exactly as stored, but for `remask_key`.
        remask_key: for a reader without personal-data access (no `cipher`): the `AUDIT_MASK_KEY`
            that masks what entries hold in clear though today's catalog marks it personal data.
        attempts: add each entry's delivery attempts: an `attempts` array ending each NDJSON line,
            the `ATTEMPT_SUMMARY_COLUMNS` after the CSV's. Read one query per batch, by message id.

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
        attempts: bool = False,
        remask_key: bytes | None = None,
    ) -> None:
        self.engine = engine
        self.cipher = cipher
        self.remask_key = remask_key
        self.attempts = attempts
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

    def _remasked(self, row: Sequence[Any], at: int) -> list[Any]:
        """The row without its trailing flag, the payload (its cell `at`) re-masked when flagged."""
        *cells, flagged = row
        if flagged and self.remask_key is not None:
            shown = remask(json.loads(cells[at]), self.remask_key)
            if shown.in_clear:
                cells[at] = json.dumps(shown.payload, ensure_ascii=False)
        return cells

    def _remasking(self) -> ColumnElement[bool] | None:
        """Which entries may need re-masking, as an SQL condition (`analytics.remask.needs_remask`);
        None when the export re-masks nothing: it unmasks, or its reader may see personal data."""
        if self.remask_key is None or self.cipher is not None:
            return None
        return needs_remask()

    def _remasked_lines(self, text: str) -> str:
        """NDJSON lines with those marked for re-masking (`REMASK_MARK`) re-masked; the rest as they are."""
        if not text.startswith(REMASK_MARK) and f"\n{REMASK_MARK}" not in text:
            return text
        # Split at newlines alone: a line's strings may hold U+2028 or U+0085, which `splitlines` splits at.
        lines = text.split("\n")
        return "\n".join(
            self._remasked_line(line) if line.startswith(REMASK_MARK) else line for line in lines
        )

    def _remasked_line(self, marked: str) -> str:
        line = marked[len(REMASK_MARK) :]
        if self.remask_key is None:
            return line
        record = json.loads(line)
        shown = remask(record["payload"], self.remask_key)
        if not shown.in_clear:
            return line
        return json.dumps({**record, "payload": shown.payload}, ensure_ascii=False)

    def _with_attempts(self, connection: Connection, rows: list[Any]) -> list[Any]:
        """The rows without their leading message id, each with its entry's attempts added: the rest
        of its NDJSON line, or its summary cells."""
        found = attempts_by_message(connection, [row[0] for row in rows])
        if self.format is ExportFormat.CSV:
            return [[*row[1:], *attempt_summary(found[row[0]])] for row in rows]
        return [[*row[1:-1], row[-1] + _attempts_member(found[row[0]])] for row in rows]

    def _batches(self, connection: Connection, result: Result[Any], flagged: bool) -> Iterator[list[Any]]:
        # The queries of an unmasking (re-masking) export name the payload's cell `payload`.
        at = list(result.keys()).index("payload") if self.cipher is not None or flagged else -1
        fix = self._unmasked if self.cipher is not None else self._remasked if flagged else None
        for partition in result.partitions():
            rows = list(partition) if fix is None else [fix(row, at) for row in partition]
            if self.attempts:
                rows = self._with_attempts(connection, rows)
            self.rows += len(rows)
            yield rows

    def _copied(self, connection: Connection, remasking: ColumnElement[bool] | None) -> Iterator[str]:
        query = ndjson_lines(self.filters, newline=False, remasking=remasking)
        for chunk in _copied_chunks(connection, query, self.batch_size):
            self.rows += chunk.count("\n")
            yield chunk if remasking is None else self._remasked_lines(chunk)

    def __iter__(self) -> Iterator[str]:
        with self.engine.connect() as connection:
            unmasking, attempts = self.cipher is not None, self.attempts
            remasking = self._remasking()
            if remasking is not None and connection.dialect.name == "postgresql":
                # The re-masking condition is one large expression (a branch per spec): PostgreSQL's JIT
                # compiled it for each export, seconds at 100,000 entries, where evaluating it takes
                # a tenth of that. For this transaction only: the pooled connection keeps its setting.
                connection.exec_driver_sql("SET LOCAL jit = off")
            # CSV cells and an NDJSON line cut around its payload carry the re-masking flag as a column.
            flagged = remasking is not None and (self.format is ExportFormat.CSV or attempts)
            chunks: Callable[[Iterator[list[Any]]], Iterator[str]]
            if self.format is ExportFormat.CSV:
                columns = (*EXPORT_COLUMNS, *ATTEMPT_SUMMARY_COLUMNS) if attempts else EXPORT_COLUMNS
                query = csv_cells(self.filters, sealed=unmasking, attempts=attempts, remasking=remasking)
                chunks = partial(_csv_chunks, columns=columns)
            elif unmasking or flagged:
                query = ndjson_cells(self.filters, attempts=attempts, remasking=remasking)
                chunks = _ndjson_chunks
            elif connection.dialect.name == "postgresql" and not attempts:
                yield from self._copied(connection, remasking)
                return
            else:
                # COPY holds the connection until it ends: the attempts of each batch need it meanwhile.
                query = ndjson_lines(self.filters, attempts=attempts, remasking=remasking)
                chunks = (
                    _line_chunks if remasking is None else partial(_line_chunks, fix=self._remasked_lines)
                )
            result = connection.execution_options(yield_per=self.batch_size).execute(query)
            yield from chunks(self._batches(connection, result, flagged))

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
