"""One staged row validated into a quote: the unified fields through the sources' shared pydantic types."""

from functools import partial

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from etl.pipeline.keys import name_key, symbol_key
from etl.pipeline.records import QuoteRecord
from etl.sources.errors import RecordRejected
from etl.sources.legacy_csv.columns import column_map
from etl.sources.legacy_csv.payload import MALFORMED_KEY
from etl.sources.payloads import describe_validation_error, fields_validator, load_json_object
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


# The common row validated by the model's own validators called directly; a row they refuse goes through
# the model itself, so its reason is the model's, word for word.
_fields_validate = fields_validator(CsvQuote)


def to_quote(payload: str, renames: tuple[tuple[str, str], ...] = ()) -> QuoteRecord:
    """One row; `renames` are the run's headers read as unified fields beside the alias table."""
    data = _row_load(payload)
    if MALFORMED_KEY in data:
        raise RecordRejected(data[MALFORMED_KEY])
    columns = column_map(tuple(data), renames)
    values = {field: data[header] for field, header in columns.items()}
    row = _fields_validate(values)
    if row is None:
        try:
            row = dict(CsvQuote.model_validate(values))
        except ValidationError as exc:
            raise RecordRejected(describe_validation_error(exc, lambda f: columns.get(f, f))) from exc
    if not row["symbol"] and not row["name"]:
        raise RecordRejected(f"{columns.get('symbol') or columns['name']}: is required")
    # The file has no ids of its own: a row's is what names its coin, folded ("btc", "btc:bitcoin", ":bitcoin").
    folded = name_key(row["name"])
    symbol = symbol_key(row["symbol"])
    return QuoteRecord(source=NAME, source_id=f"{symbol}:{folded}" if folded else symbol, **row)


def _row_load(payload: str) -> dict:
    """A staged row of text cells, read by orjson (what json.loads reads it as, in a fifth of the time).

    Anything else (a malformed row's reason and cells, numbers, text orjson refuses) is read as before.
    """
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return load_json_object(payload)
    if type(data) is dict and all(type(cell) is str for cell in data.values()):
        return data
    return load_json_object(payload)


def to_quote_renamed(renames: list[dict]) -> "partial[QuoteRecord]":
    """`to_quote` reading this run's applied renames too."""
    return partial(to_quote, renames=tuple((r["header"], r["field"]) for r in renames if r["applied"]))
