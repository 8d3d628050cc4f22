import json
import tracemalloc
from decimal import Decimal

import pytest

from etl.sources.errors import RecordRejected, SourceError
from etl.sources.legacy_csv import CELL_MAX_CHARS, LegacyCsvReader, column_map, to_quote
from tests.factories import write_csv


def extract_all(path, checkpoint=None, *, encoding="utf-8"):
    extraction = LegacyCsvReader(path=path, encoding=encoding).extract(checkpoint or {})
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


def write_bytes(path, *lines: bytes):
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def test_a_row_that_is_not_utf8_is_quarantined_with_its_bytes_shown_and_the_rest_reads(tmp_path):
    path = write_bytes(
        tmp_path / "c.csv",
        b"Ticker,Name,Price,Date",
        b"CAF,Caf\xe9 Coin,1.5,2024-01-01",
        "EUR,Eur\u00f6 Coin,2,2024-01-01".encode(),
    )
    bad, good = extract_all(path)[0]
    with pytest.raises(RecordRejected, match=r"^line 2 is not valid utf-8: byte e9 at column 8$"):
        to_quote(bad.payload)
    assert json.loads(bad.payload)["_cells"][1] == "Caf\\xe9 Coin"  # the byte shown, not replaced by U+FFFD
    assert to_quote(good.payload).name == "Eur\u00f6 Coin"


def test_a_byte_order_mark_is_not_part_of_the_first_header(tmp_path):
    path = write_bytes(tmp_path / "c.csv", b"\xef\xbb\xbfTicker,Price,Date", b"BTC,1,2024-01-01")
    (item,), checkpoint = extract_all(path)
    assert checkpoint["header"] == ["Ticker", "Price", "Date"] and to_quote(item.payload).symbol == "BTC"


def test_the_configured_encoding_reads_a_windows_export(tmp_path):
    path = write_bytes(tmp_path / "c.csv", b"Ticker,Name,Price,Date", b"CAF,Caf\xe9 \x80 Coin,1.5,2024-01-01")
    (item,), _ = extract_all(path, encoding="cp1252")
    assert to_quote(item.payload).name == "Caf\u00e9 \u20ac Coin"


def test_a_header_not_in_the_encoding_fails_the_file_naming_the_setting(tmp_path):
    path = write_bytes(tmp_path / "c.csv", b"Ticker,Pr\xefce,Date", b"BTC,1,2024-01-01")
    with pytest.raises(SourceError, match=r"line 1 is not valid utf-8: byte ef .*set LEGACY_CSV_ENCODING"):
        extract_all(path)


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("Ticker,Price,Price,Date", "'Price', 'Price' (columns 2, 3)"),
        ("Ticker,Price,Date,price ", "'Price', 'price ' (columns 2, 4)"),
        ("Ticker,Price,Date,Note,Note", "'Note', 'Note' (columns 4, 5)"),
    ],
)
def test_a_file_naming_one_column_twice_fails_naming_them(tmp_path, header, named):
    path = write_csv(tmp_path / "c.csv", ["BTC,1,1,2024-01-01,x"], header=header)
    with pytest.raises(
        SourceError, match="ambiguous duplicate columns: " + named.replace("(", r"\(").replace(")", r"\)")
    ):
        extract_all(path)


def test_different_aliases_of_one_field_and_blank_headers_are_not_ambiguous(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["BTC,1,2,2024-01-01,,"], header="Ticker,Price,Close,Date,,")
    (item,), _ = extract_all(path)
    assert to_quote(item.payload).price_usd == 1


def test_an_oversized_cell_quarantines_its_row_only(tmp_path):
    huge = "x" * (CELL_MAX_CHARS + 10)
    path = write_csv(tmp_path / "c.csv", ["BTC,1,1,2024-01-01,x", f"ETH,2,2,2024-01-01,{huge}", "SOL,3,3,2024-01-01,x"])
    items, checkpoint = extract_all(path)
    assert [(i.source_key, i.position) for i in items] == [("BTC", 2), ("", 3), ("SOL", 4)]
    with pytest.raises(RecordRejected, match=rf"field larger than field limit \({CELL_MAX_CHARS}\) \(CSV line 3\)"):
        to_quote(items[1].payload)
    assert len(items[1].payload) < 2000 and f"({len(huge) + 19} characters)" in items[1].payload
    assert to_quote(items[2].payload).symbol == "SOL" and checkpoint["line"] == 4
