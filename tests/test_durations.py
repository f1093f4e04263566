"""Durations and instants as people type them, and the one-line errors at the edges of datetime's range."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient, FlaskCliRunner

from analytics.durations import format_duration, parse_duration, parse_instant

NOW = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", timedelta(minutes=15)),
        ("2w", timedelta(weeks=2)),
        # Several units, as the pages write a duration back ("1 h 30 min").
        ("1h30m", timedelta(minutes=90)),
        ("1d 12h", timedelta(hours=36)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (timedelta(hours=1), "1 h"),
        (timedelta(minutes=15), "15 min"),
        (timedelta(minutes=90), "1 h 30 min"),
        (timedelta(weeks=2), "14 d"),
        (timedelta(seconds=45, microseconds=500), "45 s"),
        (timedelta(0), "0 s"),
    ],
)
def test_format_duration_reads_as_people_write_it(duration: timedelta, expected: str) -> None:
    assert format_duration(duration) == expected


@pytest.mark.parametrize("text", ["0d", "10", "d", "-1d", "1y", "0h0m", "1h30", "h30m"])
def test_parse_duration_rejects_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


# 99999999d fits in a timedelta but not before today; the others do not even fit in a timedelta.
@pytest.mark.parametrize("text", ["99999999d", "99999999999999d", "99999999999999w"])
def test_parse_duration_refuses_what_reaches_back_before_year_1(text: str) -> None:
    with pytest.raises(ValueError, match=rf"^'{text}' reaches back before year 1$"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", NOW - timedelta(hours=24)),
        ("2026-03-01T14:00", NOW),
        ("2026-03-01T16:00+02:00", NOW),
        ("0001-01-01T05:00+05:00", datetime(1, 1, 1, tzinfo=UTC)),
        # A `+` typed into an address arrives as a space.
        ("2026-03-01T16:00 02:00", NOW),
        ("2026-03-01T16:00:00.000 0200", NOW),
    ],
)
def test_parse_instant(text: str, expected: datetime) -> None:
    assert parse_instant(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "now", "message"),
    [
        ("99999999d", NOW, "'99999999d' reaches back before year 1"),
        ("99999999999999d", NOW, "'99999999999999d' reaches back before year 1"),
        ("2d", datetime(1, 1, 2, tzinfo=UTC), "'2d' reaches back before year 1"),
        ("0001-01-01T00:00+05:00", NOW, "'0001-01-01T00:00+05:00' is before year 1 in UTC"),
        ("9999-12-31T23:00-05:00", NOW, "'9999-12-31T23:00-05:00' is after year 9999 in UTC"),
    ],
)
def test_parse_instant_refuses_what_falls_outside_datetime_s_range(
    text: str, now: datetime, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_instant(text, now)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["drift", "--since", "99999999d"], "error: --since: '99999999d' reaches back before year 1"),
        (["replay", "--since", "99999999d"], "error: --since: '99999999d' reaches back before year 1"),
        (
            ["replay", "--stuck-after", "99999999d"],
            "error: --stuck-after: '99999999d' reaches back before year 1",
        ),
        (
            ["audit", "export", "--since", "99999999d"],
            "error: --since: '99999999d' reaches back before year 1",
        ),
        (
            ["audit", "export", "--since", "0001-01-01T00:00+05:00"],
            "error: --since: '0001-01-01T00:00+05:00' is before year 1 in UTC",
        ),
        (
            ["audit", "purge", "--older-than", "99999999999999d"],
            "error: --older-than: '99999999999999d' reaches back before year 1",
        ),
    ],
)
def test_commands_refuse_times_before_year_1_in_one_line(
    runner: FlaskCliRunner, args: list[str], message: str
) -> None:
    result = runner.invoke(args=args)
    assert result.exit_code == 2
    assert result.stderr == f"{message}\n"
    assert result.stdout == ""


def test_the_audit_search_shows_a_start_before_year_1_next_to_its_field(client: FlaskClient) -> None:
    response = client.get("/audit/?since=99999999d")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'name="since" value="99999999d"' in page
    assert 'id="error-since">&#39;99999999d&#39; reaches back before year 1</span>' in page


def test_the_health_page_explains_a_window_reaching_back_before_year_1(client: FlaskClient) -> None:
    response = client.get("/health?window=99999999d")
    assert response.status_code == 400
    assert "&#39;99999999d&#39; reaches back before year 1" in response.get_data(as_text=True)


@pytest.mark.parametrize("text", ["２４h", "٢٤h", "1h３０m", "７d"])
def test_durations_take_the_digits_0_9_only_as_ids_do(text: str) -> None:
    """`since=２４h` was read as 24 h while `project=７００` is refused: one form, two rules."""
    message = f"{text!r} is not a duration: durations are written with the digits 0-9 only, like 24h"
    with pytest.raises(ValueError) as refused:
        parse_duration(text)
    assert str(refused.value) == message
    with pytest.raises(ValueError) as refused:
        parse_instant(text)
    assert str(refused.value) == message
