"""The source registry: adding a source is one module plus one line here."""

from collections.abc import Callable

from django.conf import settings

from etl.http import source_http
from etl.sources.base import Source
from etl.sources.coincap import CoinCapSource
from etl.sources.coinpaprika import CoinPaprikaSource
from etl.sources.legacy_csv import LegacyCsvSource

_BUILDERS: dict[str, Callable[[], Source]] = {
    CoinPaprikaSource.name: lambda: CoinPaprikaSource(
        base_url=settings.COINPAPRIKA_BASE_URL,
        # The paid plan takes the bare key, no "Bearer".
        http=source_http(
            source=CoinPaprikaSource.name,
            rate=settings.COINPAPRIKA_RATE_LIMIT,
            headers={"Authorization": settings.COINPAPRIKA_API_KEY} if settings.COINPAPRIKA_API_KEY else {},
        ),
    ),
    CoinCapSource.name: lambda: CoinCapSource(
        base_url=settings.COINCAP_BASE_URL,
        api_key=settings.COINCAP_API_KEY,
        page_size=settings.COINCAP_PAGE_SIZE,
        http=source_http(
            source=CoinCapSource.name,
            rate=settings.COINCAP_RATE_LIMIT,
            headers={"Authorization": f"Bearer {settings.COINCAP_API_KEY}"},
        ),
    ),
    LegacyCsvSource.name: lambda: LegacyCsvSource(path=settings.LEGACY_CSV_PATH),
}


def source_names() -> list[str]:
    """Every source Kasparro knows, in the order a run takes them."""
    return list(_BUILDERS)


def source_get(name: str) -> Source:
    """The configured source called `name`; raises SourceNotConfigured if a setting it needs is missing."""
    if name not in _BUILDERS:
        raise KeyError(f"unknown source {name!r}; known sources: {', '.join(_BUILDERS)}")
    return _BUILDERS[name]()
