"""Cells a spreadsheet shows as text, never runs: the guard every CSV export applies.

A CSV cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula by
Excel, LibreOffice and Google Sheets (OWASP's "CSV injection"); an account named
`=cmd|'/c calc'!a0@example.com` would run on the machine that opens the export. A leading `'` makes
the spreadsheet show the text as it is.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP's "CSV injection" list)."""


def is_formula(text: str) -> bool:
    """Whether a spreadsheet would run `text` as a formula."""
    return text.startswith(FORMULA_STARTS)


def spreadsheet_safe(text: str) -> str:
    """`text` as a spreadsheet shows it: prefixed with `'` when it would run as a formula."""
    return "'" + text if is_formula(text) else text
