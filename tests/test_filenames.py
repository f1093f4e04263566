"""Download file names: short enough in bytes for any file system, whole letters, a readable fallback."""

from __future__ import annotations

import re

from webapp.filenames import MAX_SLUG_BYTES, attachment, file_slug


def test_a_slug_of_wide_letters_is_cut_in_bytes_not_characters() -> None:
    """100 characters of `東京` were 300 bytes: saving the file failed with ENAMETOOLONG."""
    slug = file_slug(["event-" + "東京" * 60])
    assert len(slug.encode()) <= MAX_SLUG_BYTES + 1
    assert slug.startswith("event-東京東京") and slug.endswith("-")
    assert len(f"audit-{slug}20261206T192859Z.csv".encode()) <= 255


def test_a_slug_is_never_cut_between_a_letter_and_its_combining_marks() -> None:
    decomposed = "e\u0301"  # `é` as a letter and a combining accent
    for padding in range(4):
        slug = file_slug(["x" * padding + decomposed * 100])
        assert not slug.rstrip("-").endswith("e"), padding
        assert len(slug.encode()) <= MAX_SLUG_BYTES + 1


def test_marks_stay_in_a_slug() -> None:
    """`हिन्दी` was `ह-न-द`: its vowel signs and virama are marks, not word characters to a regex."""
    assert file_slug(["q-हिन्दी"]) == "q-हिन्दी-"
    assert file_slug(["q-cafe\u0301 bar"]) == "q-cafe\u0301-bar-"


def test_the_ascii_fallback_has_no_runs_of_dashes() -> None:
    """`events-q--------------------cb70366d6966.csv` for a search of Japanese words."""
    name = f"events-{file_slug(['q-' + 'クラスタ ' * 30])}cb70366d6966.csv"
    assert _ascii_name(name) == "events-q-cb70366d6966.csv"
    # A `--` of the view's own (a time window's two ends) stays.
    assert _ascii_name("audit-0700Z--0800Z_q-東京.csv") == "audit-0700Z--0800Z_q-.csv"


def _ascii_name(filename: str) -> str:
    found = re.search(r'filename="([^"]*)"', attachment(filename))
    assert found is not None
    return found.group(1)
