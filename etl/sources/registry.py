"""The one list of sources: adding a source is one module (a SPEC) plus one line here.

Everything else that names sources (run validation, stats, metrics, the /data
filter through settings.SOURCE_NAMES_PROVIDER, the local source server) asks this list.
"""

from etl.sources import coincap, coinpaprika, legacy_csv
from etl.sources.spec import SourceSpec

SOURCES: tuple[SourceSpec, ...] = (coinpaprika.SPEC, coincap.SPEC, legacy_csv.SPEC)


def source_names() -> list[str]:
    """Every source Kasparro knows, in the order a run takes them."""
    return [spec.name for spec in SOURCES]


def source_spec(name: str) -> SourceSpec:
    for spec in SOURCES:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown source {name!r}; known sources: {', '.join(source_names())}")
