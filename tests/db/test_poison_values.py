"""A value no column can hold is one quarantined record with its reason; the rest of the run loads."""

import json

import pytest
import responses

from coins.models import Quote
from etl.models import Checkpoint, RejectedRecord
from tests.factories import FIXTURES, run_etl, source_run, write_csv

pytestmark = pytest.mark.django_db

PAPRIKA = "http://paprika.test/v1"
GOOD_CSV = "ETH,3400.5,409000000000,2024-11-21T00:00:00Z,x"


def ticker(**overrides) -> dict:
    item = json.loads((FIXTURES / "ticker_btc-bitcoin_2022-04-19.json").read_text())
    return {**item, **overrides}


def reasons(run, source: str) -> dict[int, str]:
    return dict(RejectedRecord.objects.filter(run=run, source=source).values_list("position", "reason"))


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("BTC,1e200000,1,2024-11-21T00:00:00Z,x", "Price: 1.000e+200000 is out of range"),
        ("BTC,1e-20000,1,2024-11-21T00:00:00Z,x", "Price: 1.000e-20000 is out of range"),
        ("BTC,1,1e200000,2024-11-21T00:00:00Z,x", "MarketCap: 1.000e+200000 is out of range"),
        ("B\x00TC,1,1,2024-11-21T00:00:00Z,x", "Ticker: holds characters that cannot be stored"),
        (",1,1,2024-11-21T00:00:00Z,x", "Ticker: is required"),
    ],
    ids=["huge-price", "tiny-price", "huge-cap", "nul-symbol", "empty-symbol"],
)
def test_a_value_no_column_holds_is_one_quarantined_row(csv_path, cell, reason):
    write_csv(csv_path, [cell, GOOD_CSV])
    part = source_run(run_etl(), "legacy_csv")
    assert (part.status, part.read, part.inserted, part.rejected) == ("succeeded", 2, 1, 1)
    assert reasons(part.run, "legacy_csv")[2].startswith(reason)
    assert Quote.objects.get().price_usd == 3400.5
    assert Checkpoint.objects.filter(source="legacy_csv").exists()


@responses.activate
def test_poison_api_items_are_quarantined_and_the_sources_after_load(csv_path, settings):
    settings.ETL_SOURCES = ["coinpaprika", "legacy_csv"]
    settings.COINPAPRIKA_BASE_URL = PAPRIKA
    settings.COINPAPRIKA_RATE_LIMIT = 0
    no_id = ticker()
    del no_id["id"]
    items = [
        no_id,
        ticker(id="", symbol="E"),
        ticker(id="nul-coin", name="Nul\x00Coin"),
        ticker(id="huge-coin", quotes={"USD": {"price": "1e200000"}}),
        ticker(id="tiny-coin", circulating_supply="1e-20000"),
        ticker(id="blank-coin", symbol=" "),
        ticker(),
    ]
    body = json.dumps(items).replace('"1e200000"', "1e200000").replace('"1e-20000"', "1e-20000")
    responses.get(f"{PAPRIKA}/tickers", body=body, content_type="application/json")
    write_csv(csv_path, [GOOD_CSV])
    run = run_etl()
    paprika = source_run(run, "coinpaprika")
    assert (paprika.status, paprika.read, paprika.inserted, paprika.rejected) == ("succeeded", 7, 1, 6)
    assert source_run(run, "legacy_csv").inserted == 1
    found = reasons(run, "coinpaprika")
    assert found[0].startswith("id: ") and found[1].startswith("id: ")
    assert found[2].startswith("name: holds characters that cannot be stored")
    assert found[3] == "quotes.USD.price: 1.000e+200000 is out of range"
    assert found[4] == "circulating_supply: 1.000e-20000 is out of range"
    assert found[5] == "symbol: is required"
    assert Quote.objects.filter(source="coinpaprika").count() == 1


def test_undecodable_and_oversized_rows_are_quarantined_and_the_file_loads(csv_path):
    csv_path.write_bytes(
        b"Ticker,Name,Price,Date\n"
        b"CAF,Caf\xe9 Coin,1.5,2024-11-21T00:00:00Z\n"
        + b"BIG,"
        + b"x" * 200_000
        + b",2,2024-11-21T00:00:00Z\n"
        + "EUR,Eur\u00f6 Coin,2,2024-11-21T00:00:00Z\n".encode()
    )
    part = source_run(run_etl(), "legacy_csv")
    assert (part.status, part.read, part.inserted, part.rejected) == ("succeeded", 3, 1, 2)
    found = reasons(part.run, "legacy_csv")
    assert found[2] == "line 2 is not valid utf-8: byte e9 at column 8"
    assert found[3].startswith("field larger than field limit")
    assert Quote.objects.get().coin.name == "Eur\u00f6 Coin"
