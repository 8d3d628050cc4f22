"""Values a parser accepts but the database cannot hold are 400s naming the parameter, never 500s."""

import base64
import json

import pytest

from tests.factories import make_coin, make_quote

pytestmark = pytest.mark.django_db


def cursor(value: str, ordering: str = "-price_usd") -> str:
    token = json.dumps({"o": ordering, "d": "n", "v": value, "id": 1}).encode()
    return base64.urlsafe_b64encode(token).decode().rstrip("=")


BAD_CURSORS = [
    (f"ordering=-price_usd&cursor={cursor(value)}", "cursor")
    for value in ("NaN", "Infinity", "-Infinity", "sNaN", "1e999999", "1e-999999")
]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("as_of_after=2024-01-01T00:00:00%2B16:00", "as_of_after"),
        ("as_of_before=2024-01-01T00:00:00-23:30", "as_of_before"),
        ("min_price=1e-999999999", "min_price"),
        ("max_price=1e999999999", "max_price"),
        ("min_price=NaN", "min_price"),
        ("max_price=-Infinity", "max_price"),
        *BAD_CURSORS,
        (f"ordering=-as_of&cursor={cursor('2024-01-01T00:00:00+20:00', '-as_of')}", "cursor"),
    ],
)
def test_a_value_the_database_cannot_hold_is_a_400_naming_the_parameter(api_client, query, parameter):
    response = api_client.get(f"/data?{query}")
    assert response.status_code == 400
    assert parameter in response.json()


def test_extreme_but_valid_values_still_answer(api_client):
    make_quote(make_coin("BTC", "Bitcoin", "bitcoin"), price_usd=1)
    edge = "as_of_after=2000-01-01T00:00:00%2B15:59&min_price=1e-16000&max_price=1e49"
    body = api_client.get(f"/data?{edge}").json()
    assert [r["coin"] for r in body["results"]] == ["bitcoin"], body
