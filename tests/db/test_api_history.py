"""GET /coins/{slug}/history: open, high, low and close per interval, per source and for the consensus."""

from datetime import timedelta
from decimal import Decimal

import pytest

from coins.candles import candles_refresh
from coins.consensus import consensus_refresh
from etl.models import EtlRun
from tests.factories import T0, make_coin, make_quote

pytestmark = pytest.mark.django_db


@pytest.fixture
def btc():
    run = EtlRun.objects.create(trigger="manual", sources=[])
    coin = make_coin("BTC", "Bitcoin", "bitcoin", rank=1)
    # coincap four times in the first hour, once in the next; coinpaprika once an hour.
    for minutes, price, cap in ((0, "100", "1000"), (15, "104.5", "1045"), (30, "99.25", "992"), (45, "101", None)):
        make_quote(
            coin,
            source="coincap",
            as_of=T0 + timedelta(minutes=minutes),
            price_usd=Decimal(price),
            market_cap_usd=Decimal(cap) if cap else None,
            volume_24h_usd=Decimal("7"),
            run=run,
        )
    make_quote(coin, source="coincap", as_of=T0 + timedelta(minutes=70), price_usd=Decimal("102"), run=run)
    for hour in (0, 1):
        make_quote(
            coin, source="coinpaprika", as_of=T0 + timedelta(hours=hour, minutes=5), price_usd=Decimal("103"), run=run
        )
    consensus_refresh(run_id=run.pk)
    candles_refresh(run_id=run.pk)
    return coin


def series(body) -> dict:
    return {s["source"]: s["candles"] for s in body["series"]}


def test_hourly_candles_per_source_and_the_consensus_in_time_order(api_client, btc):
    body = api_client.get("/coins/bitcoin/history").json()
    assert (body["coin"], body["interval"]) == ("bitcoin", "1h")
    # The default window: the 7 days up to the end of the newest quote's hour.
    assert (body["from"], body["to"]) == ("2024-11-14T02:00:00Z", "2024-11-21T02:00:00Z")
    found = series(body)
    assert list(found) == ["coincap", "coinpaprika", "consensus"]
    first, second = found["coincap"]
    assert first == {
        "starts_at": "2024-11-21T00:00:00Z",
        "open": "100",
        "high": "104.5",
        "low": "99.25",
        "close": "101",
        "market_cap_usd": None,  # the hour's last quote had none
        "volume_24h_usd": "7",
    }
    assert second["starts_at"] == "2024-11-21T01:00:00Z" and second["close"] == "102"
    assert [c["close"] for c in found["consensus"]] == ["102", "102.5"]
    assert found["consensus"][0]["market_cap_usd"] is None


def test_daily_candles_and_one_series_at_a_time(api_client, btc):
    body = api_client.get("/coins/bitcoin/history?interval=1d&source=coincap").json()
    assert body["from"] == "2023-11-23T00:00:00Z" and body["to"] == "2024-11-22T00:00:00Z"
    (day,) = series(body)["coincap"]
    assert (day["open"], day["high"], day["low"], day["close"]) == ("100", "104.5", "99.25", "102")
    consensus = series(api_client.get("/coins/bitcoin/history?interval=1d&source=consensus").json())
    assert list(consensus) == ["consensus"] and consensus["consensus"][0]["open"] == "102"


def test_the_window_is_from_inclusive_to_exclusive(api_client, btc):
    body = api_client.get("/coins/bitcoin/history?from=2024-11-21T00:15:00Z&to=2024-11-21T00:45:00Z").json()
    (hour,) = series(body)["coincap"]
    assert (hour["open"], hour["close"]) == ("104.5", "99.25")
    assert series(body)["consensus"] == []


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("interval=5m", "interval"),
        ("source=kraken", "source"),
        ("from=yesterday", "from"),
        ("to=2024-13-01", "to"),
        ("from=2024-11-21T00:00:00Z&to=2024-11-20T00:00:00Z", "from"),
        ("from=2024-10-01T00:00:00Z&to=2024-11-21T00:00:00Z", "from"),  # 51 days of 1h: over the 31
        ("interval=1d&from=2022-01-01T00:00:00Z&to=2024-01-01T00:00:00Z", "from"),
        ("from=2024-11-21T00:00:00+16:00", "from"),
        ("limit=10", "limit"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(api_client, btc, query, parameter):
    response = api_client.get(f"/coins/bitcoin/history?{query}")
    assert response.status_code == 400, response.content
    assert parameter in response.json()


def test_an_unknown_coin_is_a_json_404(api_client):
    response = api_client.get("/coins/nothing/history")
    assert response.status_code == 404 and "nothing" in response.json()["detail"]


def test_history_and_disagreements_are_in_the_schema(api_client):
    paths = api_client.get("/schema?format=json").json()["paths"]
    history = paths["/coins/{slug}/history"]["get"]
    assert {p["name"] for p in history["parameters"]} >= {"slug", "interval", "from", "to", "source"}
    assert {"200", "400", "404"} <= set(history["responses"])
    assert {"source", "min_spread", "page"} <= {p["name"] for p in paths["/disagreements"]["get"]["parameters"]}


def test_the_browsable_api_renders_history_and_disagreements(api_client, btc):
    for url in ("/coins/bitcoin/history", "/disagreements"):
        response = api_client.get(url, HTTP_ACCEPT="text/html")
        assert response.status_code == 200 and b"<html" in response.content
