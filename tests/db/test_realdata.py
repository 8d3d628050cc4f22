"""Real captured data through the real clients and the real CSV reader: what a user would check.

The corpus and its provenance: tests/fixtures/realdata (SOURCES.md). CoinPaprika's 2,541 tickers of
2019-09-06, CoinCap's top 100 on eight days of May 2025, and three CMC-style CSVs (clean, mangled by a
spreadsheet, multi-coin).
"""

import csv
import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count

from coins.models import Coin, MatchRule, Quote, SourceListing
from etl.models import RejectedRecord
from etl.services import listings_to_review
from tests.factories import source_run
from tests.realdata import (
    COINCAP_DAYS,
    KAGGLE_CLEAN,
    KAGGLE_MANGLED,
    MULTI_COIN,
    PAPRIKA_TICKERS,
    coincap_load,
    csv_load,
    paprika_load,
    sources_point,
)

pytestmark = pytest.mark.django_db

# Hand-checked: CoinCap's 2025 id -> CoinPaprika's 2019 id of the same asset.
SAME_ASSET = {
    "bitcoin": "btc-bitcoin",
    "ethereum": "eth-ethereum",
    "xrp": "xrp-xrp",
    "binance-coin": "bnb-binance-coin",  # "BNB" against "Binance Coin": the slug and ticker agree
    "usd-coin": "usdc-usd-coin",
    "weth": "weth-weth",  # "Wrapped ETH" against a name that only repeats the ticker
    "iota": "miota-iota",  # the ticker changed (MIOTA to IOTA), the name stayed
    "theta": "theta-theta-token",  # "Theta Network" against "THETA"
    "bittorrent": "btt-bittorrent",  # BTTOLD now, BTT then: the same (pre-redenomination) token
    "monero": "xmr-monero",
    "chainlink": "link-chainlink",
    "cosmos": "atom-cosmos",
}
# Hand-checked: a 2019 coin shares the ticker (or the name), but it is another asset.
OTHER_ASSET = {
    "arbitrum": "arb-arbit",  # Arbitrum (2023) is not Arbit
    "filecoin": "fil-filecoin-futures",  # the 2019 listing was an IOU future
    "uniswap": "uni-uni-coin",  # Uniswap launched in 2020
    "official-trump": "trump-trumpcoin",
    "worldcoin-org": "wdc-worldcoin",  # Worldcoin WLD (2023) is not WorldCoin WDC (2013)
    "optimism-ethereum": "op-operand",
}


@pytest.fixture
def real(settings):
    sources_point(settings)
    return settings


def same(stored: Decimal, sent: str) -> bool:
    """The number the source sent, as the database gives it back: every digit on PostgreSQL, and on the
    embedded SQLite (a float underneath) the 15 significant digits it keeps."""
    if connection.vendor == "postgresql":
        return stored == Decimal(sent)
    return abs(stored - Decimal(sent)) <= abs(Decimal(sent)) * Decimal("1e-14")


def _coin_of(source: str, source_id: str) -> int:
    return SourceListing.objects.get(source=source, source_id=source_id).coin_id


def test_every_coinpaprika_ticker_is_kept_and_served(real, api_client):
    tickers = json.loads(PAPRIKA_TICKERS.read_text())
    paprika = source_run(paprika_load(), "coinpaprika")
    assert (paprika.status, paprika.read, paprika.inserted, paprika.rejected) == ("succeeded", 2541, 2541, 0)
    ids = {ticker["id"] for ticker in tickers}
    served, url = set(), "/coins?page_size=500"
    while url:
        page = api_client.get(url).json()
        served |= {listing["source_id"] for coin in page["results"] for listing in coin["listings"]}
        url = page["next"]
    assert served == ids
    # In the source's own spelling, found in any case.
    for symbol in ("B@", "0xBTC", "Abet", "x0z", "PoS", "xEUR", "uTip"):
        (coin,) = api_client.get("/coins", {"symbol": symbol.swapcase()}).json()["results"]
        assert coin["symbol"] == symbol
        assert {row["symbol"] for row in api_client.get("/data", {"symbol": symbol.upper()}).json()["results"]} == {
            symbol
        }
    # Five coins called SCC, three each of BTX, CPC, BIT, GET, HOT, WIN, VNT: as many coins as tickers.
    symbols = Counter(ticker["symbol"] for ticker in tickers)
    assert Coin.objects.count() == 2541
    for symbol in ("SCC", "BTX", "HOT", "VNT"):
        assert len(api_client.get("/coins", {"symbol": symbol}).json()["results"]) == symbols[symbol]


def test_coinpaprika_oddities_are_kept_as_a_data_engineer_expects(real):
    tickers = {ticker["id"]: ticker for ticker in json.loads(PAPRIKA_TICKERS.read_text())}
    paprika_load()
    # A coin's quotes of a source are its one listing's.
    listing_of = dict(SourceListing.objects.filter(source="coinpaprika").values_list("coin_id", "source_id"))
    quotes = {listing_of[quote.coin_id]: quote for quote in Quote.objects.filter(source="coinpaprika")}
    uncapped = [sid for sid, ticker in tickers.items() if ticker["max_supply"] == 0]
    assert len(uncapped) == 1998 and all(quotes[sid].max_supply is None for sid in uncapped)
    capped = [sid for sid in tickers if sid not in set(uncapped)]
    assert all(quotes[sid].max_supply == tickers[sid]["max_supply"] for sid in capped)
    # More in circulation than in total happens (burns, bridges): both kept as the source sent them.
    above = [sid for sid, q in quotes.items() if q.circulating_supply > q.total_supply]
    assert len(above) == 50
    assert all(quotes[sid].circulating_supply == tickers[sid]["circulating_supply"] for sid in above)
    # A stale ticker holds at its own last_updated, two months before the capture, never at the fetch.
    stale = min(tickers.values(), key=lambda ticker: ticker["last_updated"])
    assert quotes[stale["id"]].as_of == datetime(2019, 7, 11, 17, 29, 55, tzinfo=UTC)
    assert quotes["btc-bitcoin"].price_usd == Decimal("10913.27425377")


def test_every_coincap_asset_of_all_eight_days_is_one_coin_on_every_day(real):
    days = [json.loads(path.read_text()) for path in COINCAP_DAYS]
    for path in COINCAP_DAYS:
        coincap = source_run(coincap_load(path), "coincap")
        assert (coincap.status, coincap.read, coincap.inserted, coincap.rejected) == ("succeeded", 100, 100, 0)
    coin_of = dict(SourceListing.objects.filter(source="coincap").values_list("source_id", "coin_id"))
    every_id = {asset["id"] for day in days for asset in day["data"]}
    assert set(coin_of) == every_id and len(every_id) == 104 and len(set(coin_of.values())) == 104
    for day in days:
        moment = datetime.fromtimestamp(day["timestamp"] / 1000, tz=UTC)
        held = set(Quote.objects.filter(source="coincap", as_of=moment).values_list("coin_id", "price_usd"))
        prices = dict(held)
        assert set(prices) == {coin_of[a["id"]] for a in day["data"]}
        assert all(same(prices[coin_of[a["id"]]], a["priceUsd"]) for a in day["data"])
    # Monero's supply is 2**64 / 10**12, an overflow: unknown, not 18.4 million coins; its price stays.
    monero = Quote.objects.filter(coin_id=coin_of["monero"], source="coincap")
    assert monero.count() == 8 and all(q.circulating_supply is None and q.price_usd > 100 for q in monero)
    # A max supply of "0.0000000000000000" is CoinCap saying "no cap".
    (uncapped,) = {a["id"] for day in days for a in day["data"] if a["maxSupply"] == "0.0000000000000000"}
    assert not Quote.objects.filter(coin_id=coin_of[uncapped], max_supply__isnull=False).exists()
    # WETH trades at ether's price to the digit at the same moment, and it is still another asset.
    assert coin_of["weth"] != coin_of["ethereum"]


def test_coincap_2025_joins_coinpaprika_2019_where_the_evidence_says_one_asset(real):
    paprika_load()
    for path in COINCAP_DAYS:
        coincap_load(path)
    for coincap_id, paprika_id in SAME_ASSET.items():
        assert _coin_of("coincap", coincap_id) == _coin_of("coinpaprika", paprika_id), coincap_id
    for coincap_id, paprika_id in OTHER_ASSET.items():
        assert _coin_of("coincap", coincap_id) != _coin_of("coinpaprika", paprika_id), coincap_id
    assert not SourceListing.objects.filter(coin_id=_coin_of("coincap", "solana"), source="coinpaprika").exists()
    # KuCoin Shares was renamed KuCoin Token: with prices six years apart that is not enough to join, so it
    # waits for a person, its likeliest match recorded.
    kucoin = SourceListing.objects.get(source="coincap", source_id="kucoin-token")
    assert kucoin.match_rule == MatchRule.NEW_COIN
    assert kucoin.runner_up_id == _coin_of("coinpaprika", "kcs-kucoin-shares")
    assert kucoin in listings_to_review()
    assert not SourceListing.objects.values("coin", "source").annotate(n=Count("id")).filter(n__gt=1).exists()


def test_a_clean_kaggle_export_loads_the_close_as_the_price_at_its_day(real):
    paprika_load()
    loaded = source_run(csv_load(real, KAGGLE_CLEAN), "legacy_csv")
    assert (loaded.status, loaded.read, loaded.inserted, loaded.rejected) == ("succeeded", 2991, 2991, 0)
    bitcoin = _coin_of("coinpaprika", "btc-bitcoin")
    assert _coin_of("legacy_csv", "btc:bitcoin") == bitcoin
    first = Quote.objects.get(coin_id=bitcoin, source="legacy_csv", as_of=datetime(2013, 4, 29, 23, 59, 59, tzinfo=UTC))
    assert same(first.price_usd, "144.5399932861328")
    assert (first.volume_24h_usd, first.market_cap_usd) == (Decimal("0.0"), Decimal("1603768864.5"))
    last = Quote.objects.get(coin_id=bitcoin, source="legacy_csv", as_of=datetime(2021, 7, 6, 23, 59, 59, tzinfo=UTC))
    assert last.price_usd == Decimal("34235.19345116")


def test_a_spreadsheet_mangled_export_loads_only_what_it_can_read_right(real):
    with KAGGLE_CLEAN.open() as clean_file:
        clean = {row["Date"][:10]: Decimal(row["Close"]) for row in csv.DictReader(clean_file)}
    loaded = source_run(csv_load(real, KAGGLE_MANGLED), "legacy_csv")
    assert (loaded.read, loaded.inserted, loaded.rejected) == (2991, 118, 2873)
    # Never a wrong value: every price loaded is the clean export's close of that day.
    quotes = Quote.objects.filter(source="legacy_csv")
    assert quotes.count() == 118
    assert all(q.price_usd == clean[q.as_of.date().isoformat()] for q in quotes)
    # 14-05-13 is the 14th of May; 01-05-13 could be January or May, and is not guessed.
    assert quotes.get(as_of=datetime(2013, 5, 14, 23, 59, tzinfo=UTC)).price_usd == Decimal("111.5")
    reasons = list(RejectedRecord.objects.filter(source="legacy_csv").values_list("reason", flat=True))
    kinds = Counter(kind for reason in reasons for kind in ("ambiguous date", "dot-grouped number") if kind in reason)
    assert all("ambiguous date" in r or "dot-grouped number" in r for r in reasons)
    # 1,182 rows fall on days 1 to 12 of a month; the 98 of them whose day is its month (05-05-13) are no riddle.
    assert kinds == {"dot-grouped number": 2794, "ambiguous date": 1084}
    last = RejectedRecord.objects.get(source="legacy_csv", position=2992)
    assert "Close: a dot-grouped number, its decimal point lost" in last.reason and "3.423.519.345.116" in last.reason


def test_a_multi_coin_csv_of_names_loads_each_currency_as_its_coin(real):
    paprika_load()
    loaded = source_run(csv_load(real, MULTI_COIN), "legacy_csv")
    assert (loaded.status, loaded.read, loaded.inserted, loaded.rejected) == ("succeeded", 4502, 4502, 0)
    for currency, paprika_id, rows in (
        ("bitcoin", "btc-bitcoin", 1670),
        ("ethereum", "eth-ethereum", 839),
        ("ardor", "ardr-ardor", 421),
    ):
        coin = _coin_of("legacy_csv", f":{currency}")
        assert coin == _coin_of("coinpaprika", paprika_id)
        assert Quote.objects.filter(coin_id=coin, source="legacy_csv").count() == rows
    # The close of the day, at the start of that day.
    ardor = Quote.objects.get(
        coin_id=_coin_of("legacy_csv", ":ardor"), source="legacy_csv", as_of=datetime(2016, 7, 23, tzinfo=UTC)
    )
    assert ardor.price_usd == Decimal("0.03697")
    # "Ripple" is what XRP was called; in 2019 CoinPaprika names it XRP, so nothing but a person can join them.
    ripple = SourceListing.objects.get(source="legacy_csv", source_id=":ripple")
    assert (ripple.coin.name, ripple.coin.symbol, ripple.coin.provisional) == ("Ripple", "", True)
    assert Quote.objects.filter(coin=ripple.coin).count() == 1572 and ripple in listings_to_review()


def test_a_years_daily_history_of_a_real_export_is_its_closes(real, api_client):
    """The run's own rollup (candles written as the run ends) over 2,991 real daily closes: a 1d history of
    the export's last year is one candle a day, each the close the file has for it, to the digit."""
    paprika_load()
    csv_load(real, KAGGLE_CLEAN)
    bitcoin = Coin.objects.get(pk=_coin_of("coinpaprika", "btc-bitcoin"))
    window = {"interval": "1d", "source": "legacy_csv", "from": "2020-07-07T00:00:00Z", "to": "2021-07-07T00:00:00Z"}
    body = api_client.get(f"/coins/{bitcoin.slug}/history", window).json()
    (series,) = body["series"]
    closes = Quote.objects.filter(
        coin=bitcoin,
        source="legacy_csv",
        as_of__gte=datetime(2020, 7, 7, tzinfo=UTC),
        as_of__lt=datetime(2021, 7, 7, tzinfo=UTC),
    ).order_by("as_of")
    assert len(series["candles"]) == closes.count() == 365
    for candle, quote in zip(series["candles"], closes, strict=True):
        assert candle["starts_at"] == quote.as_of.strftime("%Y-%m-%dT00:00:00Z")
        assert candle["open"] == candle["close"] == format(quote.price_usd, "f")


def test_a_coin_only_coincap_quotes_charts_its_prices_as_its_consensus_hour_by_hour(real, api_client):
    """Eight real CoinCap captures of Bitcoin, one a day: a 1h history of whole hours (the chart's window) has
    a candle an hour CoinCap quoted, its price to the digit, and the consensus of each such hour is that price."""
    for path in COINCAP_DAYS:
        coincap_load(path)
    sent = {
        datetime.fromtimestamp(day["timestamp"] / 1000, tz=UTC): asset["priceUsd"]
        for day in (json.loads(path.read_text()) for path in COINCAP_DAYS)
        for asset in day["data"]
        if asset["id"] == "bitcoin"
    }
    slug = Coin.objects.get(pk=_coin_of("coincap", "bitcoin")).slug
    window = {"interval": "1h", "from": "2025-05-14T00:00:00Z", "to": "2025-05-22T00:00:00Z"}
    series = {s["source"]: s["candles"] for s in api_client.get(f"/coins/{slug}/history", window).json()["series"]}
    assert set(series) == {"coincap", "consensus"} and len(sent) == 8
    hours = [moment.strftime("%Y-%m-%dT%H:00:00Z") for moment in sorted(sent)]
    for name in ("coincap", "consensus"):
        assert [c["starts_at"] for c in series[name]] == hours
        for candle, moment in zip(series[name], sorted(sent), strict=True):
            assert all(same(Decimal(candle[f]), sent[moment]) for f in ("open", "high", "low", "close"))
    assert {c["market_cap_usd"] for c in series["consensus"]} == {None}
    consensus = api_client.get(f"/coins/{slug}").json()["consensus"]
    assert consensus["sources"] == 1 and same(Decimal(consensus["price_usd"]), sent[max(sent)])
