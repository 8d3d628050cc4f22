"""Field types shared by the sources' pydantic models, built on the pure parsers.

A rule here that rejects what real sources really send is a bug: a symbol or a name is
any text a source sends (`$$$`, `B@`, `0xBTC`, `ΩPLN`, "King's Global Token "), kept
in its own spelling; only what cannot be stored is quarantined (no text, empty,
longer than its column, or characters PostgreSQL's text cannot hold).
"""

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from coins.keys import KEY_MAX_LENGTH, NAME_MAX_LENGTH, SYMBOL_MAX_LENGTH
from core.values import decimal_checked
from etl.pipeline.keys import name_key, symbol_key
from etl.pipeline.records import UNSTORABLE
from etl.sources.parsing import parse_decimal, parse_timestamp

# The column's limit: a value past it would fail the whole batch's transaction, not one record.
_MAX_RANK = 2**31 - 1
# Supplies that are an unsigned or signed 64-bit limit read at some decimal scale, not a count of coins:
# CoinCap's Monero supply 18446744.07370955..., the same on eight days running, is 2**64 / 10**12.
_OVERFLOWS = tuple(Decimal(2**bits - 1) for bits in (63, 64))
# Agreement to nine significant digits: a source may cut the artefact's digits short.
_SAME_DIGITS = Decimal("1e-9")


def _non_negative(value: Decimal | None) -> Decimal | None:
    if value is not None and value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


def _storable(value: Decimal | None) -> Decimal | None:
    """A number PostgreSQL's NUMERIC holds (1e200000 is not): past it the row would fail its whole batch."""
    return value if value is None else decimal_checked(value)


def _required(value: Decimal | None) -> Decimal:
    if value is None:
        raise ValueError("is required")
    return value


def _text(value: object, *, limit: int, key: str, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"not text: {value!r}")
    text = value.strip()
    if required and not text:
        raise ValueError("is required")
    if len(text) > limit or len(key) > KEY_MAX_LENGTH:
        raise ValueError(f"longer than {limit} characters: {text[:40]!r}...")
    if UNSTORABLE.search(text):
        raise ValueError(f"holds characters that cannot be stored: {text[:40]!r}")
    return text


def _symbol(value: object) -> str:
    key = symbol_key(value) if isinstance(value, str) else ""
    return _text(value, limit=SYMBOL_MAX_LENGTH, key=key, required=True)


def _optional_symbol(value: object) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    return _symbol(value)


def _name(value: object) -> str:
    key = name_key(value) if isinstance(value, str) else ""
    return _text(value, limit=NAME_MAX_LENGTH, key=key, required=False)


def _rank(value: object) -> int | None:
    number = parse_decimal(value) if not isinstance(value, int) else Decimal(value)
    if number is None:
        return None
    if number == 0:
        return None  # unranked: CoinPaprika's inactive coins
    if number != number.to_integral_value() or not 1 <= number <= _MAX_RANK:
        raise ValueError(f"not a rank (a whole number from 1 to {_MAX_RANK}): {value!r}")
    return int(number)


def _no_overflow(value: Decimal | None) -> Decimal | None:
    """A circulating supply that is a 64-bit limit at some decimal scale is a constant, not a count: unknown.

    Only for what circulates: a cap may truly be 2**64 atomic units (GRAFT's 1,844,674,407 maximum is).
    """
    if value is None or value < 1:
        return value
    for limit in _OVERFLOWS:
        scaled = value.scaleb(limit.adjusted() - value.adjusted())
        if abs(scaled - limit) <= limit * _SAME_DIGITS:
            return None
    return value


def _no_cap_is_none(value: Decimal | None) -> Decimal | None:
    """A maximum supply of 0 is how sources say "no cap" (CoinPaprika's 0, CoinCap's "0.0000"): not a cap of 0."""
    return None if value == 0 else value


Symbol = Annotated[str, BeforeValidator(_symbol)]
# A file that names its coins without tickers (a CSV of `Currency,Date,Close`).
OptionalSymbol = Annotated[str, BeforeValidator(_optional_symbol)]
Name = Annotated[str, BeforeValidator(_name)]
Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]
# Money and supply: never negative, the source's digits kept.
Amount = Annotated[
    Decimal | None, BeforeValidator(parse_decimal), AfterValidator(_storable), AfterValidator(_non_negative)
]
CirculatingSupply = Annotated[Amount, AfterValidator(_no_overflow)]
MaxSupply = Annotated[Amount, AfterValidator(_no_cap_is_none)]
Price = Annotated[
    Decimal,
    BeforeValidator(lambda v: _required(parse_decimal(v))),
    AfterValidator(_storable),
    AfterValidator(_non_negative),
]
Change = Annotated[Decimal | None, BeforeValidator(parse_decimal), AfterValidator(_storable)]
Rank = Annotated[int | None, BeforeValidator(_rank)]
