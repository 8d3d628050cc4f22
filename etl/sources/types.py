"""Field types shared by the sources' pydantic models, built on the pure parsers."""

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from etl.pipeline.keys import symbol_key
from etl.pipeline.records import TEXT_MAX_LENGTH
from etl.sources.parsing import parse_decimal, parse_timestamp

# The column's limit: a value past it would fail the whole batch's transaction, not one record.
_MAX_RANK = 2**31 - 1
_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9.\-_+$&*#@!]{0,39}")


def _non_negative(value: Decimal | None) -> Decimal | None:
    if value is not None and value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


def _required(value: Decimal | None) -> Decimal:
    if value is None:
        raise ValueError("is required")
    return value


def _symbol(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("is required")
    symbol = symbol_key(value)
    if not _SYMBOL.fullmatch(symbol):
        raise ValueError(f"not a ticker symbol: {value!r}")
    return symbol


def _rank(value: object) -> int | None:
    number = parse_decimal(value) if not isinstance(value, int) else Decimal(value)
    if number is None:
        return None
    if number == 0:
        return None  # unranked: CoinPaprika's inactive coins
    if number != number.to_integral_value() or not 1 <= number <= _MAX_RANK:
        raise ValueError(f"not a rank (a whole number from 1 to {_MAX_RANK}): {value!r}")
    return int(number)


def _name(value: object) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if len(name) > TEXT_MAX_LENGTH:
        raise ValueError(f"longer than {TEXT_MAX_LENGTH} characters: {name[:40]!r}...")
    return name


Symbol = Annotated[str, BeforeValidator(_symbol)]
Name = Annotated[str, BeforeValidator(_name)]
Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]
# Money and supply: never negative, the source's digits kept.
Amount = Annotated[Decimal | None, BeforeValidator(parse_decimal), AfterValidator(_non_negative)]
Price = Annotated[Decimal, BeforeValidator(lambda v: _required(parse_decimal(v))), AfterValidator(_non_negative)]
Change = Annotated[Decimal | None, BeforeValidator(parse_decimal)]
Rank = Annotated[int | None, BeforeValidator(_rank)]
