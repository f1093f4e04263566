"""The plural rule the CLI's summaries and the dashboard's pages share (`counted`, `noun`)."""

from __future__ import annotations

import pytest
from flask import Flask

from analytics.wording import counted, noun


@pytest.mark.parametrize(
    ("count", "singular", "expected"),
    [
        (0, "entry", "0 entries"),
        (1, "entry", "1 entry"),
        (2, "day", "2 days"),
        (1, "new entry", "1 new entry"),
        (3, "identify call", "3 identify calls"),
        (2, "property", "2 properties"),
    ],
)
def test_counted_agrees_with_the_count(count: int, singular: str, expected: str) -> None:
    assert counted(count, singular) == expected


def test_counted_groups_thousands_only_when_asked() -> None:
    assert counted(1234, "entry") == "1234 entries"
    assert counted(1234, "entry", grouped=True) == "1,234 entries"
    assert noun(1, "entry") == "entry" and noun(500, "entry") == "entries"


def test_templates_count_with_the_same_rule(app: Flask) -> None:
    template = app.jinja_env.from_string('{{ n|counted("entry", grouped=true) }} · {{ n|noun("entry") }}')
    render = template.render
    assert render(n=1) == "1 entry · entry"
    assert render(n=1234) == "1,234 entries · entries"
