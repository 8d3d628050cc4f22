"""CoinCap v3: GET {base}/assets?limit=&offset= with a bearer key, paged; every number a string.

Each stored payload is {"timestamp": <the page's epoch ms>, "data": <asset as received>}:
the page's timestamp is when the asset's figures held.
"""

from collections.abc import Iterator

from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field

from etl.pipeline.records import KEY_MAX_LENGTH, QuoteRecord, RawItem, item_key
from etl.sources.errors import SourceError, SourceNotConfigured
from etl.sources.http import SourceHttp, source_http
from etl.sources.payloads import json_dumps_exact, record_validate
from etl.sources.spec import Extraction, SourceSpec
from etl.sources.types import Amount, Change, CirculatingSupply, MaxSupply, Name, Price, Rank, Symbol, Timestamp

NAME = "coincap"
# A runaway pager (a server ignoring offset) stops here rather than looping forever.
_MAX_PAGES = 500


class Asset(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, max_length=KEY_MAX_LENGTH)
    rank: Rank = None
    symbol: Symbol
    name: Name
    supply: CirculatingSupply = None
    max_supply: MaxSupply = Field(None, alias="maxSupply")
    market_cap_usd: Amount = Field(None, alias="marketCapUsd")
    volume_usd_24hr: Amount = Field(None, alias="volumeUsd24Hr")
    price_usd: Price = Field(alias="priceUsd")
    change_percent_24hr: Change = Field(None, alias="changePercent24Hr")


class Envelope(BaseModel):
    timestamp: Timestamp
    data: Asset


def to_quote(payload: str) -> QuoteRecord:
    envelope = record_validate(Envelope, payload)
    asset = envelope.data
    return QuoteRecord(
        source=NAME,
        source_id=asset.id,
        symbol=asset.symbol,
        name=asset.name,
        as_of=envelope.timestamp,
        price_usd=asset.price_usd,
        market_cap_usd=asset.market_cap_usd,
        volume_24h_usd=asset.volume_usd_24hr,
        percent_change_24h=asset.change_percent_24hr,
        rank=asset.rank,
        circulating_supply=asset.supply,
        max_supply=asset.max_supply,
        slug=asset.id,  # CoinCap's ids are name slugs ("bitcoin-cash")
    )


class CoinCapClient:
    def __init__(self, *, base_url: str, api_key: str, page_size: int, http: SourceHttp):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.page_size = page_size
        self.http = http

    def extract(self, checkpoint: dict) -> Extraction:
        if not self.api_key:
            raise SourceNotConfigured("COINCAP_API_KEY is not set (CoinCap v3 requires a key)")
        return Extraction(self._assets(), stats=self.http.stats)

    def _assets(self) -> Iterator[RawItem]:
        position, timestamp, first_ids = 0, None, set()
        for page in range(_MAX_PAGES):
            body = self.http.get_json(
                f"{self.base_url}/assets", params={"limit": self.page_size, "offset": page * self.page_size}
            )
            data, timestamp = _page(body)
            if data and data[0].get("id") in first_ids:
                raise SourceError(f"the API returned page {page + 1} again; it ignores offset")
            first_ids.add(data[0].get("id") if data else None)
            for item in data:
                yield RawItem(
                    source_key=item_key(item.get("id")) if isinstance(item, dict) else "",
                    position=position,
                    payload=json_dumps_exact({"timestamp": timestamp, "data": item}),
                )
                position += 1
            if len(data) < self.page_size:
                return {"assets": position, "timestamp": timestamp}
        raise SourceError(f"more than {_MAX_PAGES} pages of {self.page_size}; stopping")


def _page(body: object) -> tuple[list, object]:
    """A page's assets and timestamp, or SourceError for any other shape (the retired v2's message included)."""
    if not isinstance(body, dict):
        raise SourceError(f"expected a JSON object with data and timestamp, got {type(body).__name__}")
    data = body.get("data")
    if isinstance(data, dict) and "message" in data:
        raise SourceError(f"the API answered with a message instead of assets: {data['message']}")
    if "error" in body:
        raise SourceError(f"the API answered with an error: {body['error']}")
    if not isinstance(data, list):
        raise SourceError(f"expected data to be a list of assets, got {type(data).__name__}")
    return data, body.get("timestamp")


def client_from_settings() -> CoinCapClient:
    return CoinCapClient(
        base_url=settings.COINCAP_BASE_URL,
        api_key=settings.COINCAP_API_KEY,
        page_size=settings.COINCAP_PAGE_SIZE,
        http=source_http(
            source=NAME,
            rate=settings.COINCAP_RATE_LIMIT,
            headers={"Authorization": f"Bearer {settings.COINCAP_API_KEY}"},
        ),
    )


SPEC = SourceSpec(name=NAME, label="CoinCap", snapshot=True, to_quote=to_quote, extractor=client_from_settings)
