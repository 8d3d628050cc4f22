from decimal import Decimal

import pytest
from django.db import connection

from tests.factories import make_coin, make_quote, make_quotes

pytestmark = pytest.mark.django_db


def walk(client, url: str) -> list[dict]:
    rows = []
    while url:
        body = client.get(url).json()
        rows.extend(body["results"])
        url = body["next"]
    return rows


def test_results_carry_the_unified_fields_with_numbers_as_exact_strings(api_client):
    btc = make_coin("BTC", "Bitcoin", "bitcoin")
    make_quote(
        btc,
        source="coincap",
        price_usd=Decimal("97555.28202235"),
        market_cap_usd=Decimal("1930177593571.25"),
        percent_change_24h=Decimal("-3.80"),
        circulating_supply=Decimal("19785475"),
        rank=1,
    )
    response = api_client.get("/data")
    assert response.status_code == 200
    body = response.json()
    row = body["results"][0]
    assert {k: row[k] for k in ("coin", "symbol", "name", "source", "as_of", "rank")} == {
        "coin": "bitcoin",
        "symbol": "BTC",
        "name": "Bitcoin",
        "source": "coincap",
        "as_of": "2024-11-21T00:00:00Z",
        "rank": 1,
    }
    assert (row["price_usd"], row["market_cap_usd"]) == ("97555.28202235", "1930177593571.25")
    assert row["volume_24h_usd"] is None
    assert body["meta"]["request_id"] and body["meta"]["api_latency_ms"] >= 0
    assert response["X-Request-ID"] == body["meta"]["request_id"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the embedded SQLite keeps 15 significant digits")
def test_postgresql_returns_every_digit_the_source_sent(api_client):
    btc = make_coin("BTC", "Bitcoin", "bitcoin")
    make_quote(
        btc,
        source="coincap",
        price_usd=Decimal("0.00000001234"),
        market_cap_usd=Decimal("62596198052.8648707737382150"),
    )
    row = api_client.get("/data").json()["results"][0]
    assert (row["price_usd"], row["market_cap_usd"]) == ("0.00000001234", "62596198052.8648707737382150")


def test_pages_walk_every_row_exactly_once_newest_first(api_client):
    for i in range(3):
        make_quotes(make_coin(f"C{i}", f"Coin {i}", f"coin-{i}"), 20)  # 3 quotes share every as_of
    rows = walk(api_client, "/data?page_size=7")
    assert len(rows) == 60 and len({r["id"] for r in rows}) == 60
    keys = [(r["as_of"], r["id"]) for r in rows]
    assert keys == sorted(keys, reverse=True)


def test_the_cursor_holds_its_place_while_new_rows_arrive(api_client):
    coin = make_coin("BTC", "Bitcoin", "bitcoin")
    make_quotes(coin, 30)
    first = api_client.get("/data?page_size=10").json()
    make_quotes(coin, 5, start=100)  # newer than everything: must not shift later pages
    rows = first["results"] + walk(api_client, first["next"])
    assert len(rows) == 30 and len({r["id"] for r in rows}) == 30


def test_previous_links_walk_back_to_the_same_pages(api_client):
    make_quotes(make_coin("BTC", "Bitcoin", "bitcoin"), 25)
    page1 = api_client.get("/data?page_size=10").json()
    page2 = api_client.get(page1["next"]).json()
    back = api_client.get(page2["previous"]).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in page1["results"]]
    assert page1["previous"] is None and back["next"] == page1["next"]


def test_ordering_by_price_pages_through_every_row(api_client):
    make_quotes(make_coin("BTC", "Bitcoin", "bitcoin"), 15, price="5")
    make_quotes(make_coin("ETH", "Ethereum", "ethereum"), 15, price="5")  # equal prices: ties broken by id
    rows = walk(api_client, "/data?ordering=price_usd&page_size=4")
    prices = [Decimal(r["price_usd"]) for r in rows]
    assert len(rows) == 30 and len({r["id"] for r in rows}) == 30 and prices == sorted(prices)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("symbol=btc", 10),
        ("coin=ethereum", 10),
        ("source=coincap", 10),
        ("as_of_after=2024-11-21T05:00:00Z", 10),
        ("as_of_before=2024-11-21T05:00:00Z", 10),
        ("as_of_after=2024-11-21T02:00:00Z&as_of_before=2024-11-21T04:00:00Z", 4),
        ("min_price=105", 10),
        ("max_price=101.5", 4),
        ("symbol=BTC&min_price=108", 2),
    ],
)
def test_each_filter_narrows_the_results(api_client, query, expected):
    make_quotes(make_coin("BTC", "Bitcoin", "bitcoin"), 10)
    make_quotes(make_coin("ETH", "Ethereum", "ethereum"), 10, source="coincap")
    rows = walk(api_client, f"/data?{query}&page_size=3")
    assert len(rows) == expected


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("as_of_after=yesterday", "as_of_after"),
        ("as_of_before=2024-13-01", "as_of_before"),
        ("min_price=cheap", "min_price"),
        ("max_price=1e", "max_price"),
        ("source=binance", "source"),
        ("page_size=0", "page_size"),
        ("page_size=1001", "page_size"),
        ("page_size=ten", "page_size"),
        ("ordering=volume", "ordering"),
        ("cursor=not-a-cursor", "cursor"),
    ],
)
def test_a_bad_parameter_is_a_400_that_names_it(api_client, query, parameter):
    response = api_client.get(f"/data?{query}")
    assert response.status_code == 400
    assert parameter in response.json()


def test_a_cursor_from_another_ordering_is_refused(api_client):
    make_quotes(make_coin("BTC", "Bitcoin", "bitcoin"), 5)
    next_link = api_client.get("/data?page_size=2").json()["next"]
    response = api_client.get(next_link.replace("page_size=2", "page_size=2&ordering=price_usd"))
    assert response.status_code == 400 and "cursor" in response.json()


def test_the_browsable_api_renders(api_client):
    make_quotes(make_coin("BTC", "Bitcoin", "bitcoin"), 2)
    response = api_client.get("/data", HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and b"Bitcoin" in response.content


def test_a_caller_request_id_is_echoed(api_client):
    response = api_client.get("/data", HTTP_X_REQUEST_ID="trace-123")
    assert response["X-Request-ID"] == "trace-123" and response.json()["meta"]["request_id"] == "trace-123"


def test_openapi_schema_and_swagger_ui_are_served(api_client):
    schema = api_client.get("/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    params = {p["name"] for p in schema.json()["paths"]["/data"]["get"]["parameters"]}
    assert {
        "symbol",
        "coin",
        "source",
        "as_of_after",
        "as_of_before",
        "min_price",
        "max_price",
        "cursor",
        "page_size",
        "ordering",
    } <= params
    assert api_client.get("/docs").status_code == 200
