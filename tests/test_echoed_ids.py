"""A name or id typed into an address is repeated in its 404 at most 100 characters long."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

LONG = "a" * 5000
SHOWN = "a" * 99 + "…"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (f"/api/audit/entries/{LONG}", f"No audit entry has the message id '{SHOWN}'."),
        (f"/api/catalog/events/{LONG}", f"The catalog has no event “{SHOWN}”."),
    ],
)
def test_an_api_404_repeats_a_long_id_shortened(client: FlaskClient, url: str, said: str) -> None:
    """It repeated all 5000 characters."""
    response = client.get(url)
    assert response.status_code == 404
    assert response.get_json()["error"]["message"] == said


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (f"/audit/entries/{LONG}", f"No audit entry has the message id &#39;{SHOWN}&#39;."),
        (f"/events/{LONG}", f"The catalog has no event “{SHOWN}”."),
        (f"/identifiers/{LONG}", f"The catalog has no identify call “{SHOWN}”."),
        (f"/downloads/{LONG}", f"There is no export format “{SHOWN}”."),
        (f"/tester/sends/{LONG}", f"No tester send has the message id &#39;{SHOWN}&#39;."),
        (f"/tester/?from={LONG}", f"No track or identify message has the id &#39;{SHOWN}&#39;."),
    ],
)
def test_a_page_404_repeats_a_long_id_shortened(client: FlaskClient, url: str, said: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    # Only the catalog search a missing event's page links to holds the whole text.
    assert said in html and "a" * 101 not in html.replace(f"?q={LONG}", "")
