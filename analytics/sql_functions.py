"""SQL functions that SQLite and PostgreSQL spell differently, each declared once with both spellings.

A few expressions have no portable SQL (a time's UTC day, a time as ISO text, a value as JSON
text, whole epoch seconds): each becomes a SQLAlchemy `FunctionElement` whose arguments are put
into one template per dialect through the `@compiles` hook. Declaring one with `dialect_function`
keeps its two spellings side by side, where the reason for each can sit next to it.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import Integer, String, column, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FromClause
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeEngine


def _compiler(template: str) -> Any:
    def compile_(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
        return template.format(compiler.process(element.clauses, **kw))

    return compile_


def dialect_function(
    name: str, result_type: TypeEngine[Any], *, sqlite: str, postgresql: str, doc: str
) -> type[FunctionElement[Any]]:
    """A SQL function class: calling it with column expressions gives an expression of `result_type`.

    Args:
        name: the class's name (what a statement's repr shows).
        result_type: the SQL type of the result.
        sqlite: SQLite's SQL, with `{0}` where the arguments go (comma-separated when several).
        postgresql: PostgreSQL's SQL, likewise.
        doc: what the function gives.
    """
    element: type[FunctionElement[Any]] = type(
        name, (FunctionElement,), {"type": result_type, "inherit_cache": True, "__doc__": doc}
    )
    compiles(element, "sqlite")(_compiler(sqlite))
    compiles(element, "postgresql")(_compiler(postgresql))
    return element


def bound_strings(values: Collection[str], dialect: str, name: str) -> FromClause:
    """Strings as a table of (`value`, `position`), from one bound parameter however many there are.

    An expanded IN list or a VALUES list binds and renders a parameter per string, and makes a
    statement of another shape (compiled again) for each count of them. PostgreSQL unnests an array
    (positions from 1); SQLite unpacks a JSON array with `json_each` (positions from 0).

    Args:
        values: the strings, in order.
        dialect: the database's dialect name (`sqlite`, `postgresql`).
        name: the table's name in the statement.
    """
    if dialect == "postgresql":
        array = literal(list(values), ARRAY(String))
        return func.unnest(array).table_valued("value", with_ordinality="position").render_derived(name)
    unpacked = func.json_each(literal(json.dumps(list(values))))
    table = unpacked.table_valued(column("value", String), column("key", Integer)).alias(f"{name}_json")
    return select(table.c.value, table.c.key.label("position")).subquery(name)
