"""The read API's bodies over real captured data are what DRF's serializers and JSON renderer write.

The fast path (core.rows builds the rows from the serializers' own fields, core.renderers writes
them with orjson) changes how a body is built, never a field, a digit or a link of it.
"""

import json

import pytest
from rest_framework.renderers import JSONRenderer

from coins.models import Coin, Quote
from coins.selectors import coin_get, coins_consensus_prefetch, coins_latest_quotes_prefetch
from coins.serializers import CoinDetailSerializer, CoinSerializer, QuoteSerializer
from tests.realdata import COINCAP_DAYS, MULTI_COIN, coincap_load, csv_load, paprika_load, sources_point

pytestmark = pytest.mark.django_db


@pytest.fixture
def real_market(settings):
    """CoinPaprika's 2,541 tickers, a day of CoinCap's top 100 and a multi-coin CSV, loaded by the pipeline."""
    settings.API_CACHE_SECONDS = 0
    sources_point(settings)
    paprika_load()
    coincap_load(COINCAP_DAYS[0])
    csv_load(settings, MULTI_COIN)
    assert Quote.objects.count() > 2500


def body_checked(response) -> dict:
    """The body as DRF's own renderer writes the response's data, byte for byte."""
    assert response.status_code == 200, response.content[:300]
    assert response.content == JSONRenderer().render(response.data)
    return json.loads(response.content)


def test_data_pages_are_the_serializers_rows(real_market, api_client):
    for url in ("/data?page_size=1000", "/data?ordering=price_usd&page_size=500", "/data?symbol=btc"):
        for _ in range(3):  # the first pages of the walk, by their own next links
            body = body_checked(api_client.get(url))
            ids = [row["id"] for row in body["results"]]
            quotes = Quote.objects.select_related("coin").in_bulk(ids)
            assert body["results"] == json.loads(
                JSONRenderer().render(QuoteSerializer([quotes[i] for i in ids], many=True).data)
            )
            if not (url := body["next"]):
                break


def test_coins_and_a_coin_are_the_serializers_output(real_market, api_client):
    body = body_checked(api_client.get("/coins?page_size=500"))
    slugs = [coin["slug"] for coin in body["results"]]
    coins = list(Coin.objects.filter(slug__in=slugs).prefetch_related("listings__runner_up"))
    coins.sort(key=lambda coin: slugs.index(coin.slug))
    coins_latest_quotes_prefetch(coins=coins)
    coins_consensus_prefetch(coins=coins)
    assert body["results"] == json.loads(JSONRenderer().render(CoinSerializer(coins, many=True).data))

    for slug in slugs[:5]:
        body = body_checked(api_client.get(f"/coins/{slug}?history=50"))
        expected = CoinDetailSerializer(coin_get(slug=slug, history=50)).data
        assert {key: value for key, value in body.items() if key != "request_id"} == json.loads(
            JSONRenderer().render(expected)
        )


def test_the_health_report_is_what_drf_renders(real_market, api_client):
    body_checked(api_client.get("/health"))
