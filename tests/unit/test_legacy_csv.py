import tracemalloc
from decimal import Decimal

import pytest

from etl.sources.errors import RecordRejected, SourceError
from etl.sources.legacy_csv import LegacyCsvReader, column_map, to_quote
from tests.factories import write_csv


def extract_all(path, checkpoint=None):
    extraction = LegacyCsvReader(path=path).extract(checkpoint or {})
    items = list(extraction)
    return items, extraction.checkpoint


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "Ticker,Price,MarketCap,Date,Source",
            {"symbol": "Ticker", "price_usd": "Price", "market_cap_usd": "MarketCap", "as_of": "Date"},
        ),
        (
            "symbol,name,price_usd,market_cap,volume_24h,timestamp",
            {
                "symbol": "symbol",
                "name": "name",
                "price_usd": "price_usd",
                "market_cap_usd": "market_cap",
                "volume_24h_usd": "volume_24h",
                "as_of": "timestamp",
            },
        ),
        (
            "SYMBOL,Coin Name,Price (USD),Market Cap,24h Volume,Snapped At",
            {
                "symbol": "SYMBOL",
                "name": "Coin Name",
                "price_usd": "Price (USD)",
                "market_cap_usd": "Market Cap",
                "volume_24h_usd": "24h Volume",
                "as_of": "Snapped At",
            },
        ),
        (
            "ticker,close,market_cap,total_volume,date,timestamp",
            {
                "symbol": "ticker",
                "price_usd": "close",
                "market_cap_usd": "market_cap",
                "volume_24h_usd": "total_volume",
                "as_of": "timestamp",
            },
        ),
    ],
)
def test_headers_map_through_the_alias_table(header, expected):
    assert column_map(tuple(header.split(","))) == expected


def test_the_legacy_layout_loads(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["BTC,97000.5,1930177593571.2055690456826475,2024-11-21,coingecko"])
    items, _ = extract_all(path)
    quote = to_quote(items[0].payload)
    assert (quote.symbol, quote.source_id, quote.price_usd) == ("BTC", "btc", Decimal("97000.5"))
    assert str(quote.market_cap_usd) == "1930177593571.2055690456826475"
    assert quote.as_of.isoformat() == "2024-11-21T00:00:00+00:00"


def test_semicolon_exports_with_epoch_times_and_grouped_numbers_load(tmp_path):
    path = write_csv(
        tmp_path / "c.csv",
        ['eth;Ethereum;"3,401.25";1.2e11;;1732147200000'],
        header="Symbol;Name;Price;Market Cap;Volume 24h;Timestamp",
    )
    (item,), _ = extract_all(path)
    quote = to_quote(item.payload)
    assert quote.symbol == "eth" and quote.name == "Ethereum" and quote.source_id == "eth:ethereum"
    assert quote.price_usd == Decimal("3401.25")
    assert quote.market_cap_usd == Decimal("1.2e11")
    assert quote.volume_24h_usd is None  # an empty cell is missing, not zero
    assert quote.as_of.isoformat() == "2024-11-21T00:00:00+00:00"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("BTC,abc,1,2024-01-01,x", "Price: not a number: 'abc'"),
        ("BTC,-5,1,2024-01-01,x", "Price: must not be negative"),
        ("BTC,,1,2024-01-01,x", "Price: is required"),
        ("BTC,1,1,01/02/2024,x", "Date: ambiguous date"),
        (",1,1,2024-01-01,x", "Ticker: is required"),
        ("BTC,1,1,2024-01-01", "row has 4 fields, the header has 5"),
        ("BTC,1,1,2024-01-01,x,extra", "row has 6 fields, the header has 5"),
    ],
)
def test_bad_rows_are_rejected_with_a_reason_naming_the_column(tmp_path, line, reason):
    (item,), _ = extract_all(write_csv(tmp_path / "c.csv", [line]))
    with pytest.raises(RecordRejected, match=reason.replace("(", r"\(").replace(")", r"\)")):
        to_quote(item.payload)


def test_a_file_without_required_columns_fails_naming_them(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["BTC,1"], header="Ticker,MarketCap")
    with pytest.raises(SourceError, match=r"lacks required columns: price_usd .*as_of"):
        extract_all(path)


def test_a_missing_or_empty_file_fails_clearly(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        extract_all(tmp_path / "absent.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(SourceError, match="empty"):
        extract_all(tmp_path / "empty.csv")


def test_positions_are_file_line_numbers_even_with_quoted_newlines_and_blank_lines(tmp_path):
    path = write_csv(
        tmp_path / "c.csv",
        ["BTC,1,1,2024-01-01,x", "", 'ETH,2,2,2024-01-01,"multi', 'line"', "SOL,3,3,2024-01-01,x"],
    )
    items, _ = extract_all(path)
    assert [(i.source_key, i.position) for i in items] == [("BTC", 2), ("ETH", 4), ("SOL", 6)]


def test_an_appended_file_resumes_after_the_checkpoint(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["BTC,1,1,2024-01-01,x", "ETH,2,2,2024-01-01,x"])
    first, checkpoint = extract_all(path)
    assert len(first) == 2
    write_csv(path, ["SOL,3,3,2024-01-01,x"], mode="a")
    resumed, checkpoint2 = extract_all(path, checkpoint)
    assert [(i.source_key, i.position) for i in resumed] == [("SOL", 4)]
    assert checkpoint2["offset"] == path.stat().st_size
    nothing_new, _ = extract_all(path, checkpoint2)
    assert nothing_new == []


def test_a_changed_file_is_read_again_from_the_start(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["BTC,1,1,2024-01-01,x", "ETH,2,2,2024-01-01,x"])
    _, checkpoint = extract_all(path)
    write_csv(path, ["BTC,1.5,1,2024-01-01,x", "ETH,2,2,2024-01-01,x", "SOL,3,3,2024-01-01,x"])
    items, _ = extract_all(path, checkpoint)
    assert [i.source_key for i in items] == ["BTC", "ETH", "SOL"]


def test_extract_streams_in_constant_memory(tmp_path):
    path = write_csv(tmp_path / "c.csv", [f"C{i},1.5,1000,2024-01-01,x" for i in range(20_000)])
    tracemalloc.start()
    try:
        count = sum(1 for _ in LegacyCsvReader(path=path).extract({}))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000
    assert peak < path.stat().st_size / 4  # a whole-file read would hold all of it, and more


def test_an_unterminated_last_line_is_read_again_once_the_writer_finishes_it(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["BTC,1,1,2024-01-01,x"])
    with path.open("a") as out:
        out.write("ETH,3400.5,40900")  # the writer is mid-line
    items, checkpoint = extract_all(path)
    assert [i.source_key for i in items] == ["BTC", "ETH"]
    assert checkpoint["offset"] == len("Ticker,Price,MarketCap,Date,Source\nBTC,1,1,2024-01-01,x\n")
    with path.open("a") as out:
        out.write("0000000,2024-01-01,x\n")
    (item,), _ = extract_all(path, checkpoint)
    quote = to_quote(item.payload)
    assert (quote.symbol, quote.market_cap_usd, item.position) == ("ETH", Decimal("409000000000"), 3)
