"""The records that flow through the pipeline: raw items as sources send them, staged rows, unified quotes."""

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from core.hashing import short_hash

# The text columns' limits (RawRecord.source_key, SourceListing.source_id, Coin.name): a longer value
# would fail its whole batch's transaction, so a source clips keys and rejects longer names.
KEY_MAX_LENGTH = 200
TEXT_MAX_LENGTH = 200
# NUL, and lone surrogates (JSON's "\ud800"), cannot be stored in PostgreSQL text or encoded to UTF-8:
# one in a staged row would fail its whole batch's COPY.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# Fields whose values make up a quote's content; a change in any is an update.
VALUE_FIELDS = (
    "price_usd",
    "market_cap_usd",
    "volume_24h_usd",
    "percent_change_24h",
    "rank",
    "circulating_supply",
    "total_supply",
    "max_supply",
)


@dataclass(frozen=True, slots=True)
class RawItem:
    """One item as a source sent it, before it is staged."""

    source_key: str
    position: int
    payload: str  # JSON text of the item as received


class StagedRecord(NamedTuple):
    """A raw item as staged for this run (a RawRecord row), read back by the load stage."""

    id: int
    source_key: str
    position: int
    payload: str
    content_hash: str


STAGED_FIELDS = StagedRecord._fields


def item_key(value: object) -> str:
    """A raw item's key as its column holds it: text, what cannot be stored replaced, clipped to the limit."""
    return UNSTORABLE.sub("\ufffd", "" if value is None else str(value))[:KEY_MAX_LENGTH]


@dataclass(frozen=True, slots=True)
class QuoteRecord:
    """One source's figures for one coin at one moment, before the coin is resolved."""

    source: str
    source_id: str
    symbol: str
    name: str
    as_of: datetime
    price_usd: Decimal
    market_cap_usd: Decimal | None = None
    volume_24h_usd: Decimal | None = None
    percent_change_24h: Decimal | None = None
    rank: int | None = None
    circulating_supply: Decimal | None = None
    total_supply: Decimal | None = None
    max_supply: Decimal | None = None
    # The name part of the source's id ("bitcoin-cash" of CoinPaprika's "bch-bitcoin-cash"), matched as evidence.
    slug: str = ""
    # Same figures, same hash: a value re-sent with the same digits is unchanged.
    content_hash: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text = "|".join("" if (v := getattr(self, f)) is None else str(v) for f in VALUE_FIELDS)
        object.__setattr__(self, "content_hash", short_hash(text))
