"""The extract stage: stream one source into this run's RawRecords, one committed batch at a time."""

import itertools
import logging
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.logging import logged_with
from etl.models import Checkpoint, RawRecord, SourceRun, SourceStatus
from etl.pipeline.upsert import commit_without_flush_wait, raw_records_insert
from etl.services.drift import ItemProfiler, source_drift_record
from etl.services.progress import source_extract_progress
from etl.services.runs import etl_run_heartbeat, etl_run_start, run_loader_claim
from etl.sources.errors import SourceError, SourceNotConfigured
from etl.sources.registry import source_spec

logger = logging.getLogger(__name__)

# What an extract's outcome writes, only while the source is still extracting.
_EXTRACT_OUTCOME = (
    "status",
    "error",
    "read",
    "checkpoint_after",
    "finished_at",
    "extract_seconds",
    "http_requests",
    "http_retries",
    "http_throttled",
    "schema",
    "schema_drift",
    "field_renames",
    "warnings",
)


@logged_with("run_id", "source")
def source_extract(*, run_id: int, source: str) -> SourceRun:
    """Stream one source into this run's RawRecords. A failure is recorded on the SourceRun, not raised."""
    etl_run_start(run_id=run_id)
    source_run = SourceRun.objects.select_related("run").get(run_id=run_id, source=source)
    if source_run.status not in (SourceStatus.PENDING, SourceStatus.EXTRACTING):
        return source_run
    if source_run.run.replay_of_id:
        source_run.read = RawRecord.objects.filter(run_id=source_run.run.replay_of_id, source=source).count()
        source_run.status = SourceStatus.EXTRACTED
        source_run.started_at = timezone.now()
        # A replay reads the records as the replayed run did, its renamed headers included.
        replayed = SourceRun.objects.filter(run_id=source_run.run.replay_of_id, source=source).first()
        source_run.field_renames = replayed.field_renames if replayed else []
        source_run.save(update_fields=["read", "status", "started_at", "field_renames"])
        return source_run
    # A crash mid-extract left some raw rows: start this source's extract over.
    RawRecord.objects.filter(run_id=run_id, source=source).delete()
    checkpoint = Checkpoint.objects.filter(source=source).values_list("state", flat=True).first() or {}
    source_run.status = SourceStatus.EXTRACTING
    source_run.started_at = timezone.now()
    source_run.checkpoint_before = checkpoint
    source_run.save(update_fields=["status", "started_at", "checkpoint_before"])

    started = time.perf_counter()
    extraction, read, profiler = None, 0, ItemProfiler()
    spec = source_spec(source)
    try:
        extraction = spec.extractor().extract({} if source_run.run.full else checkpoint)
        items = iter(extraction)
        while batch := list(itertools.islice(items, settings.ETL_BATCH_SIZE)):
            with transaction.atomic():
                commit_without_flush_wait()
                raw_records_insert(run_id=run_id, source=source, items=batch)
                if extraction.seen.schema is None:
                    profiler.feed(batch)
                etl_run_heartbeat(run_id=run_id)
                # Progress hook: /runs/{id}, the admin and a terminal see how far it has got.
                source_extract_progress(source_run=source_run, records=read + len(batch), size=extraction.size)
            read += len(batch)
        if spec.snapshot and not read:
            _empty_snapshot_check(source=source, run_id=run_id)
    except SourceNotConfigured as exc:
        status, error = SourceStatus.NOT_CONFIGURED, str(exc)
    except SourceError as exc:
        status, error = SourceStatus.FAILED, str(exc)
    except Exception as exc:
        logger.exception("source %s failed in run %s", source, run_id)
        status, error = SourceStatus.FAILED, f"{type(exc).__name__}: {exc}"
    else:
        status, error = SourceStatus.EXTRACTED, ""
    if status == SourceStatus.EXTRACTED:
        logger.info("extracted %s records from %s in run %s", read, source, run_id)
        source_run.read, source_run.checkpoint_after = read, extraction.checkpoint
    else:
        logger.warning("source %s in run %s: %s: %s", source, run_id, status, error)
        # A failed source loads nothing this run; what it had staged goes.
        RawRecord.objects.filter(run_id=run_id, source=source).delete()
        source_run.finished_at = timezone.now()
    source_run.status, source_run.error = status, error
    if status != SourceStatus.NOT_CONFIGURED and extraction is not None:
        source_drift_record(
            source_run=source_run,
            schema=extraction.seen.schema or profiler.profile(),
            renames=extraction.seen.renames,
        )
    source_run.extract_seconds = time.perf_counter() - started
    if extraction is not None and extraction.stats is not None:
        stats = extraction.stats
        source_run.http_requests, source_run.http_retries = stats.requests, stats.retries
        source_run.http_throttled = stats.throttled
    SourceRun.objects.filter(pk=source_run.pk, status=SourceStatus.EXTRACTING).update(
        **{field: getattr(source_run, field) for field in _EXTRACT_OUTCOME}
    )
    return source_run


@logged_with("run_id", "source")
def source_extract_hand_off(*, run_id: int, source: str) -> SourceRun:
    """A worker's extract: the source streamed in, then the run handed to its loader. Also when the extract
    failed or was done already (a redelivered task): the loader is what finalizes the run."""
    source_run = source_extract(run_id=run_id, source=source)
    run_loader_claim(run_id=run_id)
    return source_run


def _empty_snapshot_check(*, source: str, run_id: int) -> None:
    """An API that lists nothing where it last listed something is broken, not a market that emptied."""
    last = (
        SourceRun.objects.filter(source=source, status=SourceStatus.SUCCEEDED, read__gt=0)
        .exclude(run_id=run_id)
        .order_by("-run_id")
        .values_list("run_id", "read")
        .first()
    )
    if last:
        raise SourceError(f"the source listed no items, where run {last[0]} read {last[1]:,}; nothing was loaded")
