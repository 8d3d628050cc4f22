"""The pipeline's writes: runs, the extract and load stages, retention and listing fixes."""

from etl.services.anomalies import anomalies_review
from etl.services.drift import header_mappings_confirm
from etl.services.extract import source_extract, source_extract_hand_off
from etl.services.listings import (
    ListingConflict,
    listing_confirm,
    listing_repoint,
    listings_rematch,
    listings_to_review,
)
from etl.services.load import run_normalize_and_upsert
from etl.services.progress import Progress, progress_watched
from etl.services.retention import raw_records_prune
from etl.services.runs import (
    QueueUnavailable,
    RunNoLongerActive,
    UnknownSource,
    etl_run_create,
    etl_run_fail,
    etl_run_finalize,
    etl_run_trigger,
    sources_validate,
)

__all__ = [
    "ListingConflict",
    "Progress",
    "QueueUnavailable",
    "RunNoLongerActive",
    "UnknownSource",
    "anomalies_review",
    "etl_run_create",
    "etl_run_fail",
    "etl_run_finalize",
    "etl_run_trigger",
    "header_mappings_confirm",
    "listing_confirm",
    "listing_repoint",
    "listings_rematch",
    "listings_to_review",
    "progress_watched",
    "raw_records_prune",
    "run_normalize_and_upsert",
    "source_extract",
    "source_extract_hand_off",
    "sources_validate",
]
