"""Payload text as the pages and the command line show it: in the order it was written, whatever its script.

A `<pre>` of JSON is laid out by the Unicode bidi algorithm line by line, so a right-to-left key and
value share one run and swap places: `"עיר": "תל אביב",` read as `"תל אביב": "עיר",`. Each JSON string
is therefore drawn as its own isolate (`<bdi>`, quotes outside it), and the punctuation between strings
stays left to right. A direction control inside a value (`"stack \\u202egnp.exe"` reads `.png`) is
drawn as its JSON escape, marked and named in a tooltip: the escape is what copying the block gives,
still valid JSON for the same value, and the stored data is not changed.
"""

from __future__ import annotations

import re
import unicodedata

from markupsafe import Markup, escape

from webapp.readable_names import BIDI_CONTROLS

SHOWN_ESCAPED = BIDI_CONTROLS | frozenset("\u200e\u200f\u061c")
"""The embeddings, overrides and isolates, and the marks (LRM, RLM, ALM): invisible, and each moves the text
around it."""

_STRING = re.compile(r'"((?:[^"\\]|\\.)*)("|\\?\Z)', re.DOTALL)
"""A JSON string token; a block cut short (a long value on the drift table) may end inside one."""


def json_escape(char: str) -> str:
    """`char` as JSON writes it escaped: `\\u202e`."""
    return f"\\u{ord(char):04x}"


def _marked(char: str) -> str:
    name = unicodedata.name(char, "direction control")
    title = f"U+{ord(char):04X} {name}: a direction control, shown as its escape"
    return f'<span class="bidi-control" title="{escape(title)}">{json_escape(char)}</span>'


_MARKED = {ord(char): _marked(char) for char in SHOWN_ESCAPED}
_ESCAPED = {ord(char): json_escape(char) for char in SHOWN_ESCAPED}


def _safe(text: str) -> str:
    """HTML-escaped first, then the direction controls replaced by their marked escapes."""
    return str(escape(text)).translate(_MARKED)


def json_html(text: str) -> Markup:
    """JSON text as HTML: escaped, each string an isolate, direction controls shown as escapes."""
    parts: list[str] = []
    end = 0
    for found in _STRING.finditer(text):
        parts.append(_safe(text[end : found.start()]))
        body, closing = found.groups()
        # The quotes are JSON's own (or, cut short, nothing or a backslash): none needs escaping.
        parts.append(f'"<bdi>{_safe(body)}</bdi>{closing}' if body else f'"{closing}')
        end = found.end()
    parts.append(_safe(text[end:]))
    return Markup("".join(parts))


def text_html(text: object) -> Markup:
    """A payload value shown as plain text (a table cell): escaped, isolated, direction controls shown."""
    shown = "" if text is None else str(text)
    return Markup(f"<bdi>{_safe(shown)}</bdi>") if shown else Markup("")


def json_for_terminal(text: str) -> str:
    """JSON text with its direction controls written as JSON escapes: the same value, read as stored."""
    return text.translate(_ESCAPED)
