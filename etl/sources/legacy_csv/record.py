"""One staged row validated into a quote: the unified fields through the sources' shared pydantic types."""

from functools import partial

from pydantic import BaseModel, ConfigDict, ValidationError

from etl.pipeline.keys import name_key, symbol_key
from etl.pipeline.records import QuoteRecord
from etl.sources.errors import RecordRejected
from etl.sources.legacy_csv.columns import column_map
from etl.sources.legacy_csv.payload import MALFORMED_KEY
from etl.sources.payloads import describe_validation_error, load_json_object
from etl.sources.types import Amount, Change, Name, OptionalSymbol, Price, Rank, Timestamp

NAME = "legacy_csv"


class CsvQuote(BaseModel):
    model_config = ConfigDict(frozen=True)

    symbol: OptionalSymbol = ""
    name: Name = ""
    as_of: Timestamp
    price_usd: Price
    market_cap_usd: Amount = None
    volume_24h_usd: Amount = None
    percent_change_24h: Change = None
    rank: Rank = None
    circulating_supply: Amount = None
    total_supply: Amount = None
    max_supply: Amount = None


def to_quote(payload: str, renames: tuple[tuple[str, str], ...] = ()) -> QuoteRecord:
    """One row; `renames` are the run's headers read as unified fields beside the alias table."""
    data = load_json_object(payload)
    if MALFORMED_KEY in data:
        raise RecordRejected(data[MALFORMED_KEY])
    columns = column_map(tuple(data), renames)
    try:
        row = CsvQuote.model_validate({field: data[header] for field, header in columns.items()})
    except ValidationError as exc:
        raise RecordRejected(describe_validation_error(exc, lambda f: columns.get(f, f))) from exc
    if not row.symbol and not row.name:
        raise RecordRejected(f"{columns.get('symbol') or columns['name']}: is required")
    # The file has no ids of its own: a row's is what names its coin, folded ("btc", "btc:bitcoin", ":bitcoin").
    folded = name_key(row.name)
    return QuoteRecord(
        source=NAME,
        source_id=f"{symbol_key(row.symbol)}:{folded}" if folded else symbol_key(row.symbol),
        symbol=row.symbol,
        name=row.name,
        as_of=row.as_of,
        price_usd=row.price_usd,
        market_cap_usd=row.market_cap_usd,
        volume_24h_usd=row.volume_24h_usd,
        percent_change_24h=row.percent_change_24h,
        rank=row.rank,
        circulating_supply=row.circulating_supply,
        total_supply=row.total_supply,
        max_supply=row.max_supply,
    )


def to_quote_renamed(renames: list[dict]) -> "partial[QuoteRecord]":
    """`to_quote` reading this run's applied renames too."""
    return partial(to_quote, renames=tuple((r["header"], r["field"]) for r in renames if r["applied"]))
