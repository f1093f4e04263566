"""Export any filtered view of the audit log as CSV or NDJSON, streamed in constant memory.

An incident export can be millions of rows, so rows are never collected: they come from the database
in batches (`yield_per`, a server-side cursor on PostgreSQL) and leave as text chunks of one batch
each. The dashboard streams the chunks as its HTTP response; the CLI writes them to a file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine

from analytics.personal_data import PersonalDataCipher, SealError, unmask
from analytics.queries import EXPORT_COLUMNS, TIME_COLUMNS, AuditFilter, export_rows

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


def _iso(value: datetime) -> str:
    """A stored time in ISO 8601 UTC (SQLite hands back naive times, which the log writes in UTC)."""
    return value.isoformat() + "+00:00" if value.tzinfo is None else value.astimezone(UTC).isoformat()


# Per column, how a value leaves: times as ISO 8601 UTC; the payload as the database's own JSON text,
# which is spliced in unparsed (parsing and re-encoding every payload would double an export's time).
_TIMES = frozenset(index for index, name in enumerate(EXPORT_COLUMNS) if name in TIME_COLUMNS)
_PAYLOAD = EXPORT_COLUMNS.index("payload")
assert _PAYLOAD == len(EXPORT_COLUMNS) - 1, "the NDJSON writer appends the payload last"


def _csv_row(row: Sequence[Any]) -> list[Any]:
    return [
        "" if value is None else _iso(value) if index in _TIMES else value for index, value in enumerate(row)
    ]


def _ndjson_line(row: Sequence[Any]) -> str:
    fields = {
        name: _iso(value) if index in _TIMES and value is not None else value
        for index, (name, value) in enumerate(zip(EXPORT_COLUMNS[:_PAYLOAD], row, strict=False))
    }
    head = json.dumps(fields, ensure_ascii=False)
    return f'{head[:-1]}, "payload": {row[_PAYLOAD]}}}\n'


def _csv_chunks(batches: Iterator[list[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for rows in batches:
        writer.writerows(map(_csv_row, rows))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _ndjson_chunks(batches: Iterator[list[Any]]) -> Iterator[str]:
    for rows in batches:
        yield "".join(map(_ndjson_line, rows))


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

    def _unmasked(self, row: Sequence[Any]) -> list[Any]:
        """The row without its trailing sealed column, the payload unmasked when it opens."""
        *columns, sealed = row
        if sealed is not None and self.cipher is not None:
            try:
                payload = unmask(json.loads(columns[_PAYLOAD]), sealed, self.cipher)
            except SealError:
                return columns
            columns[_PAYLOAD] = json.dumps(payload, ensure_ascii=False)
        return columns

    def _batches(self, result: Iterator[Any]) -> Iterator[list[Any]]:
        for partition in result:
            rows = list(partition) if self.cipher is None else [self._unmasked(row) for row in partition]
            self.rows += len(rows)
            yield rows

    def __iter__(self) -> Iterator[str]:
        with self.engine.connect() as connection:
            result = connection.execution_options(yield_per=self.batch_size).execute(
                export_rows(self.filters, sealed=self.cipher is not None)
            )
            batches = self._batches(result.partitions())
            if self.format is ExportFormat.CSV:
                yield from _csv_chunks(batches)
            else:
                yield from _ndjson_chunks(batches)

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
