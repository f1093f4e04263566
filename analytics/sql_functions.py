"""SQL functions that SQLite and PostgreSQL spell differently, each declared once with both spellings.

A few expressions have no portable SQL (a time's UTC day, a time as ISO text, a value as JSON
text, whole epoch seconds): each becomes a SQLAlchemy `FunctionElement` whose arguments are put
into one template per dialect through the `@compiles` hook. Declaring one with `dialect_function`
keeps its two spellings side by side, where the reason for each can sit next to it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
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
