from decimal import Decimal

import pytest

from coins.consensus import consensus_refresh
from coins.models import Quote
from etl.models import EtlRun
from tests.factories import make_coin, make_listing, make_quote, make_quotes

pytestmark = pytest.mark.django_db

SOURCES = ("coincap", "coinpaprika", "legacy_csv")


def slugs(response) -> list[str]:
    return [coin["slug"] for coin in response.json()["results"]]


def test_a_coin_carries_its_listings_and_latest_quotes_with_numbers_as_exact_strings(api_client):
    btc = make_coin("BTC", "Bitcoin", "bitcoin", rank=1)
    make_listing(btc, "coincap", confidence="0.90")
    make_quote(
        btc,
        source="coincap",
        price_usd=Decimal("97555.28202235"),
        market_cap_usd=Decimal("1930177593571.25"),
        percent_change_24h=Decimal("-3.8"),
        rank=1,
    )
    response = api_client.get("/coins")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "next", "previous", "meta"}
    assert body["meta"]["request_id"] == response["X-Request-ID"] and body["meta"]["api_latency_ms"] >= 0
    assert (body["meta"]["count"], body["meta"]["page"], body["meta"]["page_size"]) == (1, 1, 100)
    assert body["results"] == [
        {
            "slug": "bitcoin",
            "symbol": "BTC",
            "name": "Bitcoin",
            "rank": 1,
            "provisional": False,
            "listings": [
                {
                    "source": "coincap",
                    "source_id": "bitcoin-coincap",
                    "symbol": "BTC",
                    "name": "Bitcoin",
                    "match_rule": "new_coin",
                    "confidence": "0.90",
                    "score": None,
                    "evidence": {},
                    "runner_up": None,
                    "runner_up_score": None,
                    "reviewed": False,
                }
            ],
            "latest_quotes": [
                {
                    "source": "coincap",
                    "as_of": "2024-11-21T00:00:00Z",
                    "price_usd": "97555.28202235",
                    "market_cap_usd": "1930177593571.25",
                    "volume_24h_usd": None,
                    "percent_change_24h": "-3.8",
                    "rank": 1,
                }
            ],
            # One source quoted the hour: its quote is the consensus, before any run computes one.
            "consensus": {
                "interval": "1h",
                "starts_at": "2024-11-21T00:00:00Z",
                "price_usd": "97555.28202235",
                "sources": 1,
                "spread": "0",
                "outliers": [],
                "quotes": [
                    {
                        "source": "coincap",
                        "as_of": "2024-11-21T00:00:00Z",
                        "price_usd": "97555.28202235",
                        "deviation": "0",
                        "outlier": False,
                    }
                ],
            },
        }
    ]


def test_coins_are_ordered_by_rank_with_the_unranked_last_then_by_slug(api_client):
    make_coin("ZZZ", "Zed", "zed")
    make_coin("ETH", "Ethereum", "ethereum", rank=2)
    make_coin("AAA", "Aaa", "aaa")
    make_coin("BTC", "Bitcoin", "bitcoin", rank=1)
    assert slugs(api_client.get("/coins")) == ["bitcoin", "ethereum", "aaa", "zed"]


def test_pages_walk_every_coin_once(api_client):
    for i in range(7):
        make_coin(f"C{i}", f"Coin {i}", f"coin-{i}", rank=i + 1)
    first = api_client.get("/coins?page_size=3").json()
    third = api_client.get(api_client.get(first["next"]).json()["next"]).json()
    assert first["previous"] is None and third["next"] is None and third["previous"]
    assert [c["slug"] for c in third["results"]] == ["coin-6"] and third["meta"]["count"] == 7


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("symbol=btc", ["bitcoin", "bitcoin-bep2"]),
        ("symbol=BTC", ["bitcoin", "bitcoin-bep2"]),
        ("symbol=BT", []),
        ("search=COIN", ["bitcoin", "dogecoin", "bitcoin-bep2"]),  # name
        ("search=bep2", ["bitcoin-bep2"]),  # slug only
        ("search=oge", ["dogecoin"]),  # symbol and name
        ("search=eth", ["ethereum"]),
        ("symbol=btc&search=bep", ["bitcoin-bep2"]),
        ("symbol=&search=", ["bitcoin", "ethereum", "dogecoin", "bitcoin-bep2"]),
    ],
)
def test_symbol_and_search_narrow_the_coins(api_client, query, expected):
    make_coin("BTC", "Bitcoin", "bitcoin", rank=1)
    make_coin("ETH", "Ethereum", "ethereum", rank=2)
    make_coin("DOGE", "Dogecoin", "dogecoin", rank=3)
    make_coin("BTC", "Bitcoin", "bitcoin-bep2")  # symbols are shared: both are BTC
    assert slugs(api_client.get(f"/coins?{query}")) == expected


def test_a_coin_listed_by_three_sources_has_three_listings_and_the_newest_quote_of_each(api_client):
    btc = make_coin("BTC", "Bitcoin", "bitcoin", rank=1)
    for hours, source in zip((5, 3, 4), SOURCES, strict=True):
        make_listing(btc, source)
        make_quotes(btc, hours, source=source)
    coin = api_client.get("/coins").json()["results"][0]
    assert [listing["source"] for listing in coin["listings"]] == list(SOURCES)
    assert [(q["source"], q["as_of"], q["price_usd"]) for q in coin["latest_quotes"]] == [
        ("coincap", "2024-11-21T04:00:00Z", "104"),
        ("coinpaprika", "2024-11-21T02:00:00Z", "102"),
        ("legacy_csv", "2024-11-21T03:00:00Z", "103"),
    ]


def test_a_coin_without_quotes_has_no_latest_quotes(api_client):
    make_coin("NEW", "Newcoin", "newcoin")
    assert api_client.get("/coins").json()["results"][0]["latest_quotes"] == []


def test_the_detail_has_the_latest_quotes_and_the_recent_history_per_source_newest_first(api_client):
    btc = make_coin("BTC", "Bitcoin", "bitcoin", rank=1)
    make_listing(btc, "coincap")
    make_quotes(btc, 30, source="coincap")
    make_quotes(btc, 2, source="legacy_csv")
    make_quotes(make_coin("ETH", "Ethereum", "ethereum"), 5, source="coincap")  # another coin's quotes stay out
    response = api_client.get("/coins/bitcoin")
    assert response.status_code == 200
    body = response.json()
    assert body["slug"] == "bitcoin" and len(body["listings"]) == 1
    assert [(q["source"], q["price_usd"]) for q in body["latest_quotes"]] == [("coincap", "129"), ("legacy_csv", "101")]
    history = [(q["source"], q["as_of"]) for q in body["history"]]
    coincap = [as_of for source, as_of in history if source == "coincap"]
    assert len(coincap) == 24 and coincap == sorted(coincap, reverse=True) and coincap[0] == "2024-11-22T05:00:00Z"
    assert history[24:] == [("legacy_csv", "2024-11-21T01:00:00Z"), ("legacy_csv", "2024-11-21T00:00:00Z")]


def test_history_takes_the_number_of_quotes_per_source(api_client):
    btc = make_coin("BTC", "Bitcoin", "bitcoin")
    for source in SOURCES:
        make_quotes(btc, 10, source=source)
    history = api_client.get("/coins/bitcoin?history=3").json()["history"]
    assert [(q["source"], q["price_usd"]) for q in history] == [
        (source, price) for source in SOURCES for price in ("109", "108", "107")
    ]


def test_an_unknown_slug_is_a_404_with_a_detail(api_client):
    response = api_client.get("/coins/nosuchcoin")
    assert response.status_code == 404
    assert "nosuchcoin" in response.json()["detail"]


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/coins?page_size=0", "page_size"),
        ("/coins?page_size=501", "page_size"),
        ("/coins?page_size=ten", "page_size"),
        ("/coins?page=0", "page"),
        ("/coins?page=two", "page"),
        ("/coins?page=3", "page"),  # past the end
        (f"/coins?symbol={'X' * 41}", "symbol"),
        ("/coins/bitcoin?history=0", "history"),
        ("/coins/bitcoin?history=501", "history"),
        ("/coins/bitcoin?history=all", "history"),
    ],
)
def test_a_bad_parameter_is_a_400_that_names_it(api_client, url, parameter):
    make_coin("BTC", "Bitcoin", "bitcoin")
    response = api_client.get(url)
    assert response.status_code == 400
    assert parameter in response.json()


def test_queries_are_bounded_whatever_the_page_size(api_client, django_assert_max_num_queries):
    for i in range(50):
        coin = make_coin(f"C{i}", f"Coin {i}", f"coin-{i:02}", rank=i + 1)
        for source in SOURCES:
            make_listing(coin, source)
            make_quotes(coin, 3, source=source)
    run = EtlRun.objects.create(trigger="manual", sources=[])
    Quote.objects.update(run=run)
    consensus_refresh(run_id=run.pk)
    for page_size in (5, 50):
        # count, coins, listings, latest quotes, consensus, its quotes
        with django_assert_max_num_queries(6):
            coins = api_client.get(f"/coins?page_size={page_size}").json()["results"]
        assert len(coins) == page_size
        assert all(len(c["listings"]) == 3 and len(c["latest_quotes"]) == 3 for c in coins)
        assert all(c["consensus"]["sources"] == 3 for c in coins)
    # coin, listings, latest quotes, consensus, its quotes, history, their anomaly flags
    with django_assert_max_num_queries(7):
        assert len(api_client.get("/coins/coin-07?history=500").json()["history"]) == 9


def test_the_browsable_api_renders_the_list_and_the_detail(api_client):
    btc = make_coin("BTC", "Bitcoin", "bitcoin", rank=1)
    make_quotes(btc, 2, source="coincap")
    for url in ("/coins", "/coins/bitcoin"):
        response = api_client.get(url, HTTP_ACCEPT="text/html")
        assert response.status_code == 200 and b"Bitcoin" in response.content


def test_the_schema_documents_the_parameters_and_responses(api_client):
    paths = api_client.get("/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    listing, detail = paths["/coins"]["get"], paths["/coins/{slug}"]["get"]
    assert {"symbol", "search", "page", "page_size"} <= {p["name"] for p in listing["parameters"]}
    assert {"slug", "history"} <= {p["name"] for p in detail["parameters"]}
    assert {"200", "400"} <= set(listing["responses"]) and {"200", "400", "404"} <= set(detail["responses"])
