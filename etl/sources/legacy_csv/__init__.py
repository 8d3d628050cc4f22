"""The legacy CSV source: its SPEC, and the reader and record parser wired to the settings and the database.

The file's headers (`columns`), headers it renamed (`renames`), the streaming reader with its resume
(`reader`), a row as staged (`payload`) and as validated into a quote (`record`) are modules of their own.
"""

from django.conf import settings

from etl.models import HeaderMapping, SourceRun, SourceStatus
from etl.sources.legacy_csv.columns import column_map
from etl.sources.legacy_csv.reader import CELL_MAX_CHARS, LegacyCsvReader
from etl.sources.legacy_csv.record import NAME, to_quote, to_quote_renamed
from etl.sources.legacy_csv.renames import KnownHeaders
from etl.sources.spec import SourceSpec

# What the rest of the code and the tests use; the rest is named by its module.
__all__ = ["CELL_MAX_CHARS", "NAME", "SPEC", "LegacyCsvReader", "column_map", "known_headers", "to_quote"]


def known_headers() -> KnownHeaders:
    """The confirmed mappings and the newest successful run's profile of a file with rows."""
    baseline, renames = (
        SourceRun.objects.filter(source=NAME, status=SourceStatus.SUCCEEDED, schema__items__gt=0)
        .order_by("-id")
        .values_list("schema", "field_renames")
        .first()
    ) or (None, [])
    confirmed = dict(
        HeaderMapping.objects.filter(source=NAME, confirmed_at__isnull=False).values_list("header", "field")
    )
    return KnownHeaders(
        confirmed=confirmed,
        baseline=baseline,
        baseline_renames=renames,
        threshold=settings.DRIFT_AUTO_APPLY_CONFIDENCE,
    )


def reader_from_settings() -> LegacyCsvReader:
    return LegacyCsvReader(path=settings.LEGACY_CSV_PATH, encoding=settings.LEGACY_CSV_ENCODING, known=known_headers())


SPEC = SourceSpec(
    name=NAME,
    label="Legacy CSV",
    snapshot=False,
    to_quote=to_quote,
    extractor=reader_from_settings,
    to_quote_renamed=to_quote_renamed,
)
