"""The demo data tells one story: the shipped CSV and the local source server price a coin alike at the
same moment, and the CSV ranks its coins as the APIs do."""

import csv
import itertools
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import requests

from devtools.market_universe import MARKET_MOMENT, REAL_COINS, VENUE_SPREAD, legacy_csv_rows
from devtools.source_fakes import coin_universe
from devtools.source_server import SourceServer
from tests.factories import ROOT

SHIPPED = ROOT / "data" / "coins.csv"


def shipped_rows() -> list[dict[str, str]]:
    with SHIPPED.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def csv_price(row: dict[str, str]) -> Decimal:
    return Decimal(row["Price"])


def test_the_shipped_csv_is_what_generate_csv_writes():
    # data/coins.csv is `manage.py generate_csv --rows 5000 --seed 42`: regenerate it when the universe changes.
    with SHIPPED.open(newline="", encoding="utf-8") as stream:
        shipped = [tuple(row) for row in csv.reader(stream)][1:]
    assert shipped == list(legacy_csv_rows(rows=5000, seed=42))


@pytest.mark.parametrize("hours_before", [0, 1, 30])
def test_the_csv_and_the_apis_agree_on_every_real_coins_price_at_the_same_moment(hours_before):
    moment = MARKET_MOMENT - timedelta(hours=hours_before)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    at_moment = {row["Ticker"]: row for row in shipped_rows() if row["Date"] == stamp}
    assert len(at_moment) == len(REAL_COINS)
    for coin in coin_universe(coins=len(REAL_COINS), seed=7, as_of=moment):
        row = at_moment[coin.symbol]
        assert abs(csv_price(row) / coin.price - 1) <= Decimal(VENUE_SPREAD) * Decimal("1.01"), coin.symbol
        assert int(row["Rank"]) == coin.rank
        assert abs(Decimal(row["Change24h"]) - coin.percent_change_24h) < Decimal("0.01"), coin.symbol


def test_the_server_as_a_person_starts_it_quotes_what_the_csv_ends_with():
    last = {row["Ticker"]: row for row in shipped_rows() if row["Date"] == "2025-07-01T00:00:00Z"}
    with SourceServer(port=0, coins=100, seed=7) as server:  # serve_sources' defaults but the size
        assert server.as_of == MARKET_MOMENT == datetime.fromisoformat("2025-07-01T00:00:00+00:00")
        tickers = requests.get(f"{server.coinpaprika_url}/tickers", timeout=10).json()
        assets = requests.get(f"{server.coincap_url}/assets", headers={"Authorization": "Bearer k"}, timeout=10)
    paprika = {t["symbol"]: Decimal(str(t["quotes"]["USD"]["price"])) for t in tickers}
    coincap = {a["symbol"]: Decimal(a["priceUsd"]) for a in assets.json()["data"]}
    for symbol in ("BTC", "USDT", "BNB", "SOL", "DOGE"):
        for api in (paprika, coincap):
            assert abs(csv_price(last[symbol]) / api[symbol] - 1) < Decimal("0.002"), symbol
    assert Decimal("0.995") < csv_price(last["USDT"]) < Decimal("1.005")


def test_every_csv_row_has_a_rank_and_prices_move_like_a_market():
    rows = shipped_rows()
    assert all(row["Rank"].isdigit() for row in rows)
    btc = [csv_price(row) for row in rows if row["Ticker"] == "BTC"]
    hourly = [abs(b / a - 1) for a, b in itertools.pairwise(btc)]
    assert max(hourly) < Decimal("0.03") and len(set(btc)) == len(btc)  # it moves, and never jumps
    usdt = [csv_price(row) for row in rows if row["Ticker"] == "USDT"]
    assert max(usdt) - min(usdt) < Decimal("0.01")
