"""The API sources' clients against recorded payloads (responses) and their retry rules."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from unittest import mock

import pytest
import requests
import responses

from etl.sources import coincap, coinpaprika
from etl.sources.errors import RecordRejected, SourceError, SourceNotConfigured
from etl.sources.http import HttpStats, RetryPolicy, SourceHttp
from etl.sources.registry import source_spec
from tests.factories import FIXTURES

PAPRIKA = "http://paprika.test/v1"


COINCAP = "http://coincap.test/v3"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


class NoLimit:
    def acquire(self) -> None:
        pass


def client(sleeps: list | None = None, *, retries: int = 3, retry_after_max: float = 60) -> SourceHttp:
    return SourceHttp(
        source="test",
        rate_limiter=NoLimit(),
        policy=RetryPolicy(
            max_retries=retries, backoff_seconds=0.5, backoff_max_seconds=4, retry_after_max_seconds=retry_after_max
        ),
        timeout=(1, 1),
        sleep=(sleeps if sleeps is not None else []).append,
    )


@pytest.fixture
def api_settings(settings):
    settings.COINPAPRIKA_BASE_URL = PAPRIKA
    settings.COINCAP_BASE_URL = COINCAP
    settings.COINCAP_API_KEY = "test-key"
    settings.COINCAP_PAGE_SIZE = 3
    settings.COINPAPRIKA_RATE_LIMIT = settings.COINCAP_RATE_LIMIT = 0
    settings.SOURCE_BACKOFF_SECONDS = 0.001
    return settings


def asset(**overrides) -> str:
    data = json.loads(fixture_text("v2_asset_bitcoin_2024-11-21.json"))
    data.update(overrides)
    return json.dumps({"timestamp": 1732147200000, "data": data})


@responses.activate
def test_coinpaprika_maps_the_recorded_ticker_with_every_digit(api_settings):
    ticker = fixture_text("ticker_btc-bitcoin_2022-04-19.json")
    responses.get(f"{PAPRIKA}/tickers", body=f"[{ticker}]", content_type="application/json")
    (item,) = list(source_spec("coinpaprika").extractor().extract({}))
    quote = coinpaprika.to_quote(item.payload)
    assert (quote.source_id, quote.symbol, quote.name, quote.rank) == ("btc-bitcoin", "BTC", "Bitcoin", 1)
    assert quote.as_of == datetime(2022, 4, 19, 15, 43, 22, tzinfo=UTC)
    assert str(quote.price_usd) == "41389.57931641128"
    assert str(quote.volume_24h_usd) == "35357658696.99645"
    assert (quote.market_cap_usd, quote.percent_change_24h) == (Decimal("787066061422"), Decimal("5.25"))
    assert (quote.circulating_supply, quote.total_supply, quote.max_supply) == (19016044, 19016031, 21000000)
    assert responses.calls[0].request.params == {"quotes": "USD"}


@responses.activate
def test_coinpaprika_sends_the_paid_key_bare(api_settings):
    api_settings.COINPAPRIKA_API_KEY = "paid-key"
    responses.get(f"{PAPRIKA}/tickers", json=[])
    list(source_spec("coinpaprika").extractor().extract({}))
    assert responses.calls[0].request.headers["Authorization"] == "paid-key"


def test_coinpaprika_zero_max_supply_means_unlimited():
    ticker = json.loads(fixture_text("ticker_btc-bitcoin_2022-04-19.json"))
    ticker["max_supply"] = 0
    assert coinpaprika.to_quote(json.dumps(ticker)).max_supply is None


@responses.activate
def test_coincap_pages_until_a_short_page_and_keeps_string_digits(api_settings):
    assets = json.loads(fixture_text("v2_assets_6_2019-01-21.json"))["data"]
    for offset in (0, 3, 6):
        responses.get(
            f"{COINCAP}/assets",
            match=[responses.matchers.query_param_matcher({"limit": "3", "offset": str(offset)})],
            json={"data": assets[offset : offset + 3], "timestamp": 1548077422286},
        )
    items = list(source_spec("coincap").extractor().extract({}))
    assert [i.source_key for i in items] == [a["id"] for a in assets]
    assert all(c.request.headers["Authorization"] == "Bearer test-key" for c in responses.calls)
    btc = coincap.to_quote(items[0].payload)
    assert str(btc.price_usd) == "3578.2828968419490075"
    assert str(btc.market_cap_usd) == "62596198052.8648707737382150"
    assert btc.as_of == datetime(2019, 1, 21, 13, 30, 22, 286000, tzinfo=UTC)
    assert (btc.rank, btc.max_supply) == (1, Decimal("21000000.0000000000000000"))
    assert coincap.to_quote(items[2].payload).max_supply is None  # ETH: null maxSupply


@responses.activate
def test_coincap_v2_shutdown_message_fails_the_source_with_that_message(api_settings):
    responses.get(f"{COINCAP}/assets", body=fixture_text("v2_assets_deprecated_2025-04-16.json"))
    with pytest.raises(SourceError, match="message instead of assets: We are deprecating this version"):
        list(source_spec("coincap").extractor().extract({}))


def test_coincap_without_a_key_is_not_configured(api_settings):
    api_settings.COINCAP_API_KEY = ""
    with pytest.raises(SourceNotConfigured, match="COINCAP_API_KEY"):
        source_spec("coincap").extractor().extract({})


@responses.activate
def test_a_body_of_the_wrong_shape_fails_the_source(api_settings):
    responses.get(f"{PAPRIKA}/tickers", json={"error": "invalid parameters"})
    with pytest.raises(SourceError, match="error: invalid parameters"):
        list(source_spec("coinpaprika").extractor().extract({}))


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        ({"maxSupply": None}, "max_supply", None),
        ({"changePercent24Hr": None}, "percent_change_24h", None),
        ({"changePercent24Hr": ""}, "percent_change_24h", None),
        ({"volumeUsd24Hr": ""}, "volume_24h_usd", None),
        ({"priceUsd": "0.000000000012345678901234"}, "price_usd", Decimal("0.000000000012345678901234")),
        (
            {"supply": "999999999999999999999999.123456789"},
            "circulating_supply",
            Decimal("999999999999999999999999.123456789"),
        ),
        ({"rank": "0"}, "rank", None),
    ],
)
def test_coincap_model_handles_nulls_empty_strings_and_extreme_numbers(overrides, field, expected):
    assert getattr(coincap.to_quote(asset(**overrides)), field) == expected


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"priceUsd": None}, "data.priceUsd"),
        ({"priceUsd": "-1"}, "must not be negative"),
        ({"priceUsd": "lots"}, "not a number"),
        ({"symbol": ""}, "data.symbol: is required"),
        ({"id": ""}, "data.id"),
    ],
)
def test_coincap_model_rejects_bad_records_naming_the_field(overrides, reason):
    with pytest.raises(RecordRejected, match=reason):
        coincap.to_quote(asset(**overrides))


def test_a_renamed_field_is_a_rejection_naming_the_missing_field():
    data = json.loads(asset())
    data["data"]["price_usd"] = data["data"].pop("priceUsd")
    with pytest.raises(RecordRejected, match=r"data\.priceUsd: Field required"):
        coincap.to_quote(json.dumps(data))


@responses.activate
def test_5xx_is_retried_with_growing_jittered_backoff():
    responses.get("http://s.test/x", status=503, body="busy")
    responses.get("http://s.test/x", status=500, body="oops")
    responses.get("http://s.test/x", json=[1])
    sleeps: list[float] = []
    http = client(sleeps)
    assert http.get_json("http://s.test/x") == [1]
    assert http.stats == HttpStats(requests=3, retries=2, throttled=0)
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0


@responses.activate
def test_429_waits_as_long_as_retry_after_asks():
    responses.get("http://s.test/x", status=429, headers={"Retry-After": "7"}, json={"error": "slow down"})
    responses.get("http://s.test/x", json={"ok": True})
    sleeps: list[float] = []
    http = client(sleeps)
    assert http.get_json("http://s.test/x") == {"ok": True}
    assert sleeps == [7.0] and http.stats.throttled == 1


@responses.activate
def test_a_retry_after_beyond_the_limit_fails_at_once():
    responses.get("http://s.test/x", status=429, headers={"Retry-After": "3600"})
    http = client(retry_after_max=60)
    with pytest.raises(SourceError, match="asks to wait 3600 s"):
        http.get_json("http://s.test/x")
    assert http.stats.requests == 1


@responses.activate
def test_timeouts_and_dropped_connections_are_retried():
    responses.get("http://s.test/x", body=requests.ConnectTimeout("connect timed out"))
    responses.get("http://s.test/x", body=requests.ConnectionError("reset by peer"))
    responses.get("http://s.test/x", json=[])
    http = client()
    assert http.get_json("http://s.test/x") == []
    assert http.stats.retries == 2


@responses.activate
def test_giving_up_says_why_and_how_often():
    responses.get("http://s.test/x", body="<html>Bad gateway</html>", status=200)
    http = client(retries=2)
    with pytest.raises(SourceError) as failure:
        http.get_json("http://s.test/x")
    assert str(failure.value) == "the response is not JSON after 3 attempts: <html>Bad gateway</html>"
    assert http.stats.requests == 3


def test_a_connection_that_fails_says_so_once_and_briefly():
    # What requests raises for a host that does not resolve: three layers, each repeating the one inside.
    from urllib3.connection import HTTPSConnection
    from urllib3.exceptions import MaxRetryError, NameResolutionError

    connection = HTTPSConnection("api.example.test", 443)  # only named in the message; never connects
    resolve = NameResolutionError("api.example.test", connection, OSError(-2, "Name or service not known"))
    wrapped = MaxRetryError(None, "/v1/tickers?quotes=USD", reason=resolve)
    session = mock.Mock(get=mock.Mock(side_effect=requests.ConnectionError(wrapped)))
    http = client(retries=4)
    http.session = session
    with pytest.raises(SourceError) as failure:
        http.get_json("https://api.example.test/v1/tickers")
    message = str(failure.value)
    assert message.startswith("connection failed after 5 attempts: Failed to resolve 'api.example.test'")
    assert "HTTPSConnectionPool" not in message and "Max retries" not in message and len(message) < 160


@responses.activate
def test_other_4xx_answers_are_final():
    responses.get("http://s.test/x", status=401, json={"error": "invalid key"})
    http = client()
    with pytest.raises(SourceError, match=r"^HTTP 401 from /x: .*invalid key"):
        http.get_json("http://s.test/x")
    assert http.stats.requests == 1


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"name": "N" * 300}, "data.name: longer than 200 characters"),
        ({"rank": "3000000000"}, "data.rank: not a rank"),
    ],
)
def test_values_past_the_columns_limits_are_rejected_not_left_to_fail_the_batch(overrides, reason):
    with pytest.raises(RecordRejected, match=reason):
        coincap.to_quote(asset(**overrides))
