"""The round-trip benchmark reads the tester's pages as a browser does; this holds it to them as served.

A benchmark that no longer recognises an answer fails only when someone runs `make bench`, long
after the markup changed: the result badge gained a class for its texture, and the round-trip rows
stopped with "answered 200 without `delivered`" although the send was delivered.
"""

from __future__ import annotations

from flask.testing import FlaskClient

from bench.tester import EVENT, FORM, HTMX, hidden_fields, shows_delivered


def test_the_round_trip_benchmark_reads_the_form_and_recognises_a_delivered_send(client: FlaskClient) -> None:
    page = client.get("/tester/", query_string={"event": EVENT}).get_data(as_text=True)
    fields = hidden_fields(page)
    assert {"token", "spec", "mode"} <= set(fields)

    answer = client.post("/tester/send", data={**fields, **FORM}, headers=HTMX)

    text = answer.get_data(as_text=True)
    assert answer.status_code == 200 and shows_delivered(text)
    assert hidden_fields(text)["token"] != fields["token"], "the answer carries the next form token"


def test_a_refused_send_is_not_read_as_delivered(client: FlaskClient) -> None:
    fields = hidden_fields(client.get("/tester/", query_string={"event": EVENT}).get_data(as_text=True))

    answer = client.post("/tester/send", data={**fields, **FORM, "scope.user_id": "-5"}, headers=HTMX)

    assert not shows_delivered(answer.get_data(as_text=True))
