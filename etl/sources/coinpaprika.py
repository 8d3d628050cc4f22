"""CoinPaprika: GET {base}/tickers, one JSON array of every ticker, prices under quotes.USD."""

from collections.abc import Iterator

from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field

from etl.pipeline.records import KEY_MAX_LENGTH, QuoteRecord, RawItem, item_key
from etl.sources.errors import SourceError
from etl.sources.http import SourceHttp, source_http
from etl.sources.payloads import json_dumps_exact, record_validate
from etl.sources.spec import Extraction, SourceSpec
from etl.sources.types import Amount, Change, CirculatingSupply, MaxSupply, Name, Price, Rank, Symbol, Timestamp

NAME = "coinpaprika"


class UsdQuote(BaseModel):
    price: Price
    volume_24h: Amount = None
    market_cap: Amount = None
    percent_change_24h: Change = None


class Quotes(BaseModel):
    usd: UsdQuote = Field(alias="USD")


class Ticker(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, max_length=KEY_MAX_LENGTH)
    name: Name
    symbol: Symbol
    rank: Rank = None
    # Kept as sent even when circulating exceeds total (50 of 2,541 real tickers do): the source's own figures.
    circulating_supply: CirculatingSupply = None
    total_supply: Amount = None
    max_supply: MaxSupply = None
    # When the values held, however stale (2019 captures run back two months): never the time of the fetch.
    last_updated: Timestamp
    quotes: Quotes


def to_quote(payload: str) -> QuoteRecord:
    ticker = record_validate(Ticker, payload)
    usd = ticker.quotes.usd
    return QuoteRecord(
        source=NAME,
        source_id=ticker.id,
        symbol=ticker.symbol,
        name=ticker.name,
        as_of=ticker.last_updated,
        price_usd=usd.price,
        market_cap_usd=usd.market_cap,
        volume_24h_usd=usd.volume_24h,
        percent_change_24h=usd.percent_change_24h,
        rank=ticker.rank,
        circulating_supply=ticker.circulating_supply,
        total_supply=ticker.total_supply,
        max_supply=ticker.max_supply,
        slug=id_slug(ticker.id),
    )


def id_slug(ticker_id: str) -> str:
    """The name part of an id: "bch-bitcoin-cash" is "{symbol}-{name slug}" (the symbol as it was when listed)."""
    _, dash, rest = ticker_id.partition("-")
    return rest if dash and rest else ticker_id


class CoinPaprikaClient:
    def __init__(self, *, base_url: str, http: SourceHttp):
        self.base_url = base_url.rstrip("/")
        self.http = http

    def extract(self, checkpoint: dict) -> Extraction:
        return Extraction(self._tickers(), stats=self.http.stats)

    def _tickers(self) -> Iterator[RawItem]:
        body = self.http.get_json(f"{self.base_url}/tickers", params={"quotes": "USD"})
        if isinstance(body, dict) and "error" in body:
            raise SourceError(f"the API answered with an error: {body['error']}")
        if not isinstance(body, list):
            raise SourceError(f"expected a JSON array of tickers, got {type(body).__name__}")
        newest = None
        for position, item in enumerate(body):
            key = item_key(item.get("id")) if isinstance(item, dict) else ""
            if isinstance(item, dict) and isinstance(item.get("last_updated"), str):
                newest = max(newest or item["last_updated"], item["last_updated"])
            yield RawItem(source_key=key, position=position, payload=json_dumps_exact(item))
        return {"tickers": len(body), "newest_last_updated": newest}


def client_from_settings() -> CoinPaprikaClient:
    key = settings.COINPAPRIKA_API_KEY
    return CoinPaprikaClient(
        base_url=settings.COINPAPRIKA_BASE_URL,
        # The paid plan takes the bare key, no "Bearer".
        http=source_http(
            source=NAME, rate=settings.COINPAPRIKA_RATE_LIMIT, headers={"Authorization": key} if key else {}
        ),
    )


SPEC = SourceSpec(name=NAME, label="CoinPaprika", snapshot=True, to_quote=to_quote, extractor=client_from_settings)
