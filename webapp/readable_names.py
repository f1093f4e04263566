"""Names people choose are read back on every page and printed by the command line: a name must read
as it was typed.

Any role names its API tokens, and an admin's `users token list` prints them in a terminal, where a
control character (ESC, BEL, backspace) clears the screen, colours text, sets the window title or the
clipboard. A direction control reorders how a name and the text after it read, on every page
(`🚀 prod \u202eevil` shows as `🚀 prod live`). Token names, preset names and display names refuse
both; the command line's tables escape what an older row may still hold.

Emails and names (display names, token names, preset names) also refuse the other invisible format
characters (Unicode category Cf: a zero-width space, a soft hyphen, a direction mark, a byte-order
mark): `ada\u200b@example.com` reads exactly as the admin's `ada@example.com`, two preset chips `東京`
and `東京\u200b` look the same, and so do two tokens `ci` and `ci\u200b` in an account's list. A name
keeps the zero-width joiner and non-joiner (`JOINERS`), anywhere in it: emoji sequences and Persian or
Indic words need them, where they sit between characters, and a stricter rule (where a joiner may
stand) would refuse some legitimate name in some script; an email, the account's identity, refuses
them too.
"""

from __future__ import annotations

import unicodedata

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Unicode's direction embeddings, overrides and isolates."""


def code_points(chars: set[str]) -> str:
    """`chars` as `U+200B, U+202E`, for a message a person reads."""
    return ", ".join(f"U+{ord(char):04X}" for char in sorted(chars))


def invisible(text: str) -> set[str]:
    """The format characters (Cf) in `text`: direction controls and marks, zero-width spaces and
    joiners, soft hyphens; a person reading `text` cannot see them."""
    return {char for char in text if unicodedata.category(char) == "Cf"}


JOINERS = frozenset("\u200c\u200d")
"""The zero-width non-joiner and joiner: they shape Persian or Indic words and build emoji sequences
(`👩\u200d💻`), so a name may hold them; `compared` leaves them out, so they cannot make a twin."""


def hidden(name: str) -> str | None:
    """Why `name` holds a character no one sees (a format character but the joiners), or None."""
    chars = invisible(name) - JOINERS
    if chars:
        return (
            f"a name cannot hold an invisible character ({code_points(chars)}): "
            "it makes the name look like another"
        )
    return None


def compared(name: str) -> str:
    """The form in which two names are the same name: composed (NFC), case-folded (`Straße` is
    `STRASSE`, on every database, not only in ASCII as SQLite's `lower()`), without format characters
    (a name stored before they were refused is the name without them)."""
    hidden_chars = invisible(name)
    visible = "".join(char for char in name if char not in hidden_chars)
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", visible).casefold())


def unreadable(name: str) -> str | None:
    """Why `name` would not read as typed (a control or a direction control character), or None."""
    controls = {char for char in name if unicodedata.category(char) == "Cc"}
    if controls:
        return f"a name cannot hold a control character ({code_points(controls)})"
    directions = {char for char in name if char in BIDI_CONTROLS}
    if directions:
        return (
            f"a name cannot hold a direction control character ({code_points(directions)}): "
            "it changes how the name reads"
        )
    return None


def for_terminal(text: str) -> str:
    """`text` with its control and direction characters written as escapes (`\\x1b`, `\\u202e`), for
    a table the command line prints."""
    return "".join(
        char.encode("unicode_escape").decode()
        if unicodedata.category(char) == "Cc" or char in BIDI_CONTROLS
        else char
        for char in text
    )
