"""The source registry: adding a source is one module plus one line here."""

from collections.abc import Callable

from django.conf import settings

from etl.sources.base import Source
from etl.sources.legacy_csv import LegacyCsvSource

_BUILDERS: dict[str, Callable[[], Source]] = {
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
