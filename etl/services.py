"""Run orchestration: create a run (single flight), extract each source, normalize and upsert, finalize.

Every step is idempotent and resumable: a step that already finished does
nothing when called again, and a load interrupted part-way continues after the
last batch it committed. Checkpoints move only in the transaction that marks
their source's rows committed.
"""

import itertools
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from coins.caching import data_version_bump
from etl.identity import coins_resolve
from etl.load import commit_without_flush_wait, quotes_upsert, raw_records_insert
from etl.models import (
    ACTIVE_RUN_STATUSES,
    Checkpoint,
    EtlRun,
    RawRecord,
    RejectedRecord,
    RunStatus,
    SourceItemHash,
    SourceRun,
    SourceStatus,
)
from etl.normalize import QuoteRecord
from etl.sources.registry import source_get, source_names
from etl.sources.base import RecordRejected, SourceError, SourceNotConfigured
from core.logging import log_context, logged_with

logger = logging.getLogger(__name__)

# Rows per bulk statement of the ORM's own inserts (SQLite's parameter limit).
_MAX_STATEMENT_ROWS = 2000
_LOAD_DONE = (SourceStatus.SUCCEEDED, SourceStatus.FAILED, SourceStatus.NOT_CONFIGURED)


class UnknownSource(ValueError):
    pass


def sources_validate(*, sources: list[str] | None) -> list[str]:
    """The sources a run should take: the configured ones by default, each known, in registry order."""
    known = source_names()
    wanted = list(sources) if sources else list(settings.ETL_SOURCES)
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise UnknownSource(f"unknown source(s): {', '.join(unknown)}; known sources: {', '.join(known)}")
    return [s for s in known if s in wanted]


def etl_run_create(
    *,
    trigger: str,
    sources: list[str] | None = None,
    full: bool = False,
    requested_by: str = "",
    replay_of: int | None = None,
) -> tuple[EtlRun, bool]:
    """Queue a run, or return the active one: (run, created). Never two runs at once.

    The database's partial unique index decides races between processes; a run
    whose heartbeat is older than ETL_RUN_LEASE_SECONDS is declared abandoned first.
    A replay re-normalizes the raw records another run kept, calling no source.
    """
    names = sources_validate(sources=sources)
    if replay_of is not None:
        kept = set(RawRecord.objects.filter(run_id=replay_of).values_list("source", flat=True).distinct())
        if not kept:
            raise ValueError(f"run {replay_of} kept no raw records to replay")
        names = [name for name in names if name in kept] if sources else sorted(kept, key=source_names().index)
    for _ in range(3):
        _abandoned_runs_fail()
        try:
            with transaction.atomic():
                run = EtlRun.objects.create(
                    trigger=trigger,
                    sources=names,
                    full=full,
                    requested_by=requested_by,
                    replay_of_id=replay_of,
                    heartbeat_at=timezone.now(),
                )
                SourceRun.objects.bulk_create([SourceRun(run=run, source=name) for name in names])
            return run, True
        except IntegrityError:
            active = EtlRun.objects.filter(status__in=ACTIVE_RUN_STATUSES).first()
            if active is not None:
                return active, False
    raise RuntimeError("could not create or find an active ETL run")  # pragma: no cover - three lost races


def etl_run_trigger(
    *, trigger: str, sources: list[str] | None = None, full: bool = False, requested_by: str = ""
) -> tuple[EtlRun, bool]:
    """Create a run and queue its Celery chain once the run is committed; or return the active run.

    Raises QueueUnavailable, with the run ended as failed, if the broker does not take the chain.
    """
    from etl.tasks import etl_run_enqueue  # tasks call services; importing at the top would be a cycle

    def enqueue() -> None:
        try:
            etl_run_enqueue(run_id=run.pk, sources=run.sources)
        except Exception as exc:
            # A queued run no task will ever take would block every trigger until its lease ran out.
            etl_run_fail(run_id=run.pk, error=f"could not queue the run: {type(exc).__name__}: {exc}")
            raise QueueUnavailable(f"the broker did not take the run: {exc}") from exc

    with transaction.atomic():
        run, created = etl_run_create(trigger=trigger, sources=sources, full=full, requested_by=requested_by)
        if created:
            transaction.on_commit(enqueue)
    return run, created


class QueueUnavailable(Exception):
    """The broker refused or could not be reached; the run was ended as failed."""


def _abandoned_runs_fail() -> None:
    lease = timedelta(seconds=settings.ETL_RUN_LEASE_SECONDS)
    now = timezone.now()
    abandoned = EtlRun.objects.filter(status__in=ACTIVE_RUN_STATUSES, heartbeat_at__lt=now - lease)
    for run in abandoned:
        logger.warning("ETL run %s abandoned: no heartbeat since %s", run.pk, run.heartbeat_at)
        etl_run_fail(run_id=run.pk, error=f"abandoned: no heartbeat for {lease.total_seconds():.0f} s")


def etl_run_fail(*, run_id: int, error: str) -> None:
    """End a run that cannot go on (interrupted, abandoned); what it committed stays."""
    now = timezone.now()
    with transaction.atomic():
        EtlRun.objects.filter(pk=run_id, status__in=ACTIVE_RUN_STATUSES).update(
            status=RunStatus.FAILED, error=error, finished_at=now
        )
        SourceRun.objects.filter(run_id=run_id).exclude(status__in=_LOAD_DONE).update(
            status=SourceStatus.FAILED, error=error, finished_at=now
        )


def raw_records_prune(*, older_than_days: int, batch_size: int = 10_000) -> int:
    """Delete the raw records of finished runs created more than `older_than_days` ago; returns how many.

    Raw records only serve replays and audits, and the APIs add a full snapshot
    every hour. Deleting in batches keeps each transaction (and its locks) short.
    """
    cutoff = timezone.now() - timedelta(days=older_than_days)
    old_runs = EtlRun.objects.filter(created_at__lt=cutoff).exclude(status__in=ACTIVE_RUN_STATUSES)
    deleted = 0
    while ids := list(RawRecord.objects.filter(run__in=old_runs).values_list("id", flat=True)[:batch_size]):
        deleted += RawRecord.objects.filter(id__in=ids).delete()[0]
    return deleted


def etl_run_heartbeat(*, run_id: int) -> None:
    EtlRun.objects.filter(pk=run_id).update(heartbeat_at=timezone.now())


def etl_run_start(*, run_id: int) -> None:
    now = timezone.now()
    EtlRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now
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
        source_run.save(update_fields=["read", "status", "started_at"])
        return source_run
    # A crash mid-extract left some raw rows: start this source's extract over.
    RawRecord.objects.filter(run_id=run_id, source=source).delete()
    checkpoint = Checkpoint.objects.filter(source=source).values_list("state", flat=True).first() or {}
    source_run.status = SourceStatus.EXTRACTING
    source_run.started_at = timezone.now()
    source_run.checkpoint_before = checkpoint
    source_run.save(update_fields=["status", "started_at", "checkpoint_before"])

    started = time.perf_counter()
    client, extraction, read = None, None, 0
    try:
        client = source_get(source)
        extraction = client.extract({} if source_run.run.full else checkpoint)
        items = iter(extraction)
        while batch := list(itertools.islice(items, settings.ETL_BATCH_SIZE)):
            with transaction.atomic():
                commit_without_flush_wait()
                raw_records_insert(run_id=run_id, source=source, items=batch)
                etl_run_heartbeat(run_id=run_id)
            read += len(batch)
    except SourceNotConfigured as exc:
        status, error = SourceStatus.NOT_CONFIGURED, str(exc)
    except SourceError as exc:
        status, error = SourceStatus.FAILED, str(exc)
    except Exception as exc:  # noqa: BLE001 - any fault of one source must not stop the others
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
    source_run.extract_seconds = time.perf_counter() - started
    stats = client.http.stats if client is not None and client.http is not None else None
    if stats is not None:
        source_run.http_requests, source_run.http_retries = stats.requests, stats.retries
        source_run.http_throttled = stats.throttled
    # Only if still extracting: a run declared abandoned meanwhile stays failed.
    SourceRun.objects.filter(pk=source_run.pk, status=SourceStatus.EXTRACTING).update(
        **{field: getattr(source_run, field) for field in _EXTRACT_OUTCOME}
    )
    return source_run


_EXTRACT_OUTCOME = (
    "status", "error", "read", "checkpoint_after", "finished_at",
    "extract_seconds", "http_requests", "http_retries", "http_throttled",
)


@logged_with("run_id")
def run_normalize_and_upsert(*, run_id: int) -> EtlRun:
    """Load every extracted source of the run, then finalize it. Safe to call again after a crash."""
    try:
        for source_run in SourceRun.objects.select_related("run").filter(
            run_id=run_id, status__in=(SourceStatus.EXTRACTED, SourceStatus.LOADING)
        ):
            with log_context(source=source_run.source):
                _source_load(source_run)
    except RunNoLongerActive as exc:
        logger.warning("%s", exc)
    return etl_run_finalize(run_id=run_id)


class RunNoLongerActive(Exception):
    """The run was declared abandoned (or ended) while this process was still working on it."""


def _run_active_lock(*, run_id: int) -> None:
    """Inside a transaction: hold the run's row and check it is still active, so that an abandoned
    run's late worker cannot write beside the run that replaced it."""
    status = EtlRun.objects.select_for_update().filter(pk=run_id).values_list("status", flat=True).first()
    if status not in ACTIVE_RUN_STATUSES:
        raise RunNoLongerActive(f"run {run_id} is {status}; its late worker stops without writing")


def _source_load(source_run: SourceRun) -> None:
    run_id, name = source_run.run_id, source_run.source
    raw_run_id = source_run.run.replay_of_id or run_id
    source = source_get(name)
    SourceRun.objects.filter(pk=source_run.pk).update(status=SourceStatus.LOADING)
    started = time.perf_counter()
    cursor = source_run.load_cursor or 0
    # A full run or a replay writes every record again; otherwise an item sent byte for byte as last loaded is skipped.
    skip_unchanged = source.snapshot and not source_run.run.full and not source_run.run.replay_of_id
    while True:
        chunk = list(
            RawRecord.objects.filter(run_id=raw_run_id, source=name, id__gt=cursor)
            .order_by("id")
            .values_list("id", "source_key", "position", "payload", "content_hash")[: settings.ETL_BATCH_SIZE]
        )
        if not chunk:
            break
        cursor = chunk[-1][0]
        _batch_load(source_run, source, chunk, cursor=cursor, skip_unchanged=skip_unchanged)
        etl_run_heartbeat(run_id=run_id)
    source_run.refresh_from_db()
    status, error = SourceStatus.SUCCEEDED, ""
    if source_run.read and source_run.rejected == source_run.read:
        # Nothing valid at all is a changed format, not bad luck: fail, keep the checkpoint.
        first = RejectedRecord.objects.filter(run_id=run_id, source=name).order_by("id").first()
        status, error = SourceStatus.FAILED, f"every record was rejected; the first: {first.reason}"
    with transaction.atomic():
        _run_active_lock(run_id=run_id)
        if status == SourceStatus.SUCCEEDED and source_run.checkpoint_after is not None:
            Checkpoint.objects.update_or_create(
                source=name, defaults={"state": source_run.checkpoint_after, "run_id": run_id}
            )
        SourceRun.objects.filter(pk=source_run.pk).update(
            status=status,
            error=error,
            load_seconds=(source_run.load_seconds or 0) + time.perf_counter() - started,
            finished_at=timezone.now(),
        )
    logger.info("loaded %s in run %s", name, run_id)


def _batch_load(source_run: SourceRun, source, chunk: list[tuple], *, cursor: int, skip_unchanged: bool) -> None:
    """Validate, resolve and upsert one chunk of raw records, committing its outcome with the cursor."""
    loaded_hashes = _item_hashes(source_run.source, chunk) if skip_unchanged else {}
    records: list[tuple[QuoteRecord, int]] = []
    rejected: list[RejectedRecord] = []
    skipped = 0
    for _, source_key, position, payload, payload_hash in chunk:
        if loaded_hashes.get(source_key) == payload_hash:
            skipped += 1
            continue
        try:
            records.append((source.to_quote(payload), position))
        except RecordRejected as exc:
            rejected.append(_rejection(source_run, source_key, position, str(exc), payload))
    with transaction.atomic():
        commit_without_flush_wait()
        _run_active_lock(run_id=source_run.run_id)
        coin_ids = coins_resolve(source=source_run.source, records=[r for r, _ in records])
        rows, superseded = _unique_keys(records, coin_ids)
        payloads = {position: payload for _, source_key, position, payload, _ in chunk}
        rejected += [
            _rejection(source_run, r.source_id, position, reason, payloads[position])
            for r, position, reason in superseded
        ]
        if source.snapshot:
            written = {position for _, position in records} - {position for _, position, _ in superseded}
            _item_hashes_save(source_run.source, [row for row in chunk if row[2] in written])
        result = quotes_upsert(rows=rows, run_id=source_run.run_id, now=timezone.now())
        counts = {"inserted": result.inserted, "updated": result.updated, "unchanged": skipped + result.unchanged}
        RejectedRecord.objects.bulk_create(rejected, batch_size=_MAX_STATEMENT_ROWS)
        if counts["inserted"] or counts["updated"]:
            transaction.on_commit(data_version_bump)
        SourceRun.objects.filter(pk=source_run.pk).update(
            load_cursor=cursor,
            rejected=F("rejected") + len(rejected),
            **{field: F(field) + value for field, value in counts.items()},
        )


def _item_hashes(source: str, chunk: list[tuple]) -> dict[str, str]:
    keys = [source_key for _, source_key, *_ in chunk]
    return dict(
        SourceItemHash.objects.filter(source=source, source_key__in=keys).values_list("source_key", "payload_hash")
    )


def _item_hashes_save(source: str, rows: list[tuple]) -> None:
    latest = {source_key: payload_hash for _, source_key, _, _, payload_hash in rows}
    SourceItemHash.objects.bulk_create(
        [SourceItemHash(source=source, source_key=k, payload_hash=h) for k, h in latest.items()],
        update_conflicts=True,
        unique_fields=["source", "source_key"],
        update_fields=["payload_hash"],
        batch_size=_MAX_STATEMENT_ROWS,
    )


def _unique_keys(
    records: list[tuple[QuoteRecord, int]], coin_ids: dict[str, int]
) -> tuple[list[tuple[int, QuoteRecord]], list[tuple[QuoteRecord, int, str]]]:
    """One row per (coin, as_of) in a batch: the later record wins, the earlier is quarantined."""
    latest: dict[tuple, tuple[QuoteRecord, int]] = {}
    superseded = []
    for record, position in records:
        key = (coin_ids[record.source_id], record.as_of)
        if key in latest:
            earlier, earlier_position = latest[key]
            reason = f"superseded by the record at position {position}: same coin, source and as_of"
            superseded.append((earlier, earlier_position, reason))
        latest[key] = (record, position)
    return [(key[0], record) for key, (record, _) in latest.items()], superseded


def _rejection(source_run: SourceRun, source_key: str, position: int, reason: str, payload: str) -> RejectedRecord:
    return RejectedRecord(
        run_id=source_run.run_id,
        source=source_run.source,
        source_key=source_key[:200],
        position=position,
        reason=reason,
        payload=payload,
    )


def etl_run_finalize(*, run_id: int) -> EtlRun:
    """Set the run's outcome from its sources: succeeded, partial (some failed) or failed (none loaded)."""
    run = EtlRun.objects.get(pk=run_id)
    if run.status not in ACTIVE_RUN_STATUSES:
        return run
    statuses = list(SourceRun.objects.filter(run_id=run_id).values_list("source", "status", "error"))
    if any(status not in _LOAD_DONE for _, status, _ in statuses):
        return run  # a source is still extracting or loading elsewhere
    failed = [(source, error) for source, status, error in statuses if status == SourceStatus.FAILED]
    loaded = [source for source, status, _ in statuses if status == SourceStatus.SUCCEEDED]
    if not failed:
        run.status = RunStatus.SUCCEEDED
    elif loaded:
        run.status = RunStatus.PARTIAL
    else:
        run.status = RunStatus.FAILED
    run.error = "; ".join(f"{source}: {error}" for source, error in failed)
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])
    logger.info("ETL run %s finished: %s", run_id, run.status)
    return run


def etl_run_execute(*, run_id: int) -> EtlRun:
    """The whole chain in this process, as the CLI runs it: each source extracted, then loaded."""
    run = EtlRun.objects.get(pk=run_id)
    for source in run.sources:
        source_extract(run_id=run_id, source=source)
    return run_normalize_and_upsert(run_id=run_id)

