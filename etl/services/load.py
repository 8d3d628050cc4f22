"""The load stage: each extracted source's staged records parsed, resolved to coins and upserted.

One batch is one transaction: its quotes, its rejections, its item hashes and
the load cursor commit together, so a load interrupted part-way continues after
the last batch it committed. A source's checkpoint moves only in the
transaction that marks its load done.
"""

import logging
import time
from dataclasses import replace

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from coins.caching import data_version_bump
from core.logging import log_context, logged_with
from etl.models import Checkpoint, EtlRun, RawRecord, RejectedRecord, SourceItemHash, SourceRun, SourceStatus
from etl.pipeline.identity import coins_resolve
from etl.pipeline.records import STAGED_FIELDS, QuoteRecord, StagedRecord
from etl.pipeline.upsert import STATEMENT_ROWS, commit_without_flush_wait, quotes_upsert
from etl.selectors import run_sources_loadable
from etl.services.anomalies import source_anomalies_detect
from etl.services.progress import source_load_progress
from etl.services.runs import RunNoLongerActive, etl_run_heartbeat, run_active_lock, run_loader_release
from etl.sources.errors import RecordRejected
from etl.sources.registry import source_spec
from etl.sources.spec import SourceSpec

logger = logging.getLogger(__name__)


@logged_with("run_id")
def run_normalize_and_upsert(*, run_id: int) -> EtlRun:
    """The run's loader: load its extracted sources in the run's order, again while more extracts end, then
    give up the claim and finalize. Safe to call again after a crash."""
    try:
        while True:
            for source_run in run_sources_loadable(run_id=run_id):
                with log_context(source=source_run.source):
                    _source_load(source_run)
            if run_loader_release(run_id=run_id):
                break
    except RunNoLongerActive as exc:
        logger.warning("%s", exc)
    return EtlRun.objects.get(pk=run_id)


def _source_load(source_run: SourceRun) -> None:
    run_id, name = source_run.run_id, source_run.source
    raw_run_id = source_run.run.replay_of_id or run_id
    spec = source_spec(name)
    if source_run.field_renames and spec.to_quote_renamed is not None:
        spec = replace(spec, to_quote=spec.to_quote_renamed(source_run.field_renames))
    SourceRun.objects.filter(pk=source_run.pk).update(status=SourceStatus.LOADING)
    started = time.perf_counter()
    cursor = source_run.load_cursor or 0
    # A full run or a replay writes every record again; otherwise an item sent byte for byte as last loaded is skipped.
    skip_unchanged = spec.snapshot and not source_run.run.full and not source_run.run.replay_of_id
    while True:
        chunk = [
            StagedRecord(*row)
            for row in RawRecord.objects.filter(run_id=raw_run_id, source=name, id__gt=cursor)
            .order_by("id")
            .values_list(*STAGED_FIELDS)[: settings.ETL_BATCH_SIZE]
        ]
        if not chunk:
            break
        cursor = chunk[-1].id
        _batch_load(source_run, spec, chunk, cursor=cursor, skip_unchanged=skip_unchanged)
        # Progress hook: /runs/{id}, the admin and a terminal see how far it has got.
        source_load_progress(source_run=source_run)
    source_run.refresh_from_db()
    status, error = SourceStatus.SUCCEEDED, ""
    if source_run.read and source_run.rejected == source_run.read:
        # Nothing valid at all is a changed format, not bad luck: fail, keep the checkpoint.
        first = RejectedRecord.objects.filter(run_id=run_id, source=name).order_by("id").first()
        status, error = SourceStatus.FAILED, f"every record was rejected; the first: {first.reason}"
    with transaction.atomic():
        run_active_lock(run_id=run_id)
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
    if status == SourceStatus.SUCCEEDED:
        source_run.refresh_from_db()
        source_anomalies_detect(source_run=source_run)


def _batch_load(
    source_run: SourceRun, spec: SourceSpec, chunk: list[StagedRecord], *, cursor: int, skip_unchanged: bool
) -> None:
    """Validate, resolve and upsert one chunk of raw records, committing its outcome with the cursor."""
    loaded_hashes = _item_hashes(source_run.source, chunk) if skip_unchanged else {}
    records: list[tuple[QuoteRecord, StagedRecord]] = []
    rejected: list[RejectedRecord] = []
    skipped = 0
    for staged in chunk:
        if loaded_hashes.get(staged.source_key) == staged.content_hash:
            skipped += 1
            continue
        try:
            records.append((spec.to_quote(staged.payload), staged))
        except RecordRejected as exc:
            rejected.append(_rejection(source_run, staged, str(exc)))
    with transaction.atomic():
        commit_without_flush_wait()
        run_active_lock(run_id=source_run.run_id)
        coin_ids = coins_resolve(source=source_run.source, records=[record for record, _ in records])
        rows, superseded = _unique_keys(records, coin_ids)
        rejected += [_rejection(source_run, staged, reason) for staged, reason in superseded]
        if spec.snapshot:
            dropped = {staged.id for staged, _ in superseded}
            _item_hashes_save(source_run.source, [staged for _, staged in records if staged.id not in dropped])
        result = quotes_upsert(rows=rows, run_id=source_run.run_id, now=timezone.now())
        counts = {"inserted": result.inserted, "updated": result.updated, "unchanged": skipped + result.unchanged}
        RejectedRecord.objects.bulk_create(rejected, batch_size=STATEMENT_ROWS)
        if counts["inserted"] or counts["updated"]:
            transaction.on_commit(data_version_bump)
        SourceRun.objects.filter(pk=source_run.pk).update(
            load_cursor=cursor,
            rejected=F("rejected") + len(rejected),
            **{field: F(field) + value for field, value in counts.items()},
        )
        etl_run_heartbeat(run_id=source_run.run_id)


def _item_hashes(source: str, chunk: list[StagedRecord]) -> dict[str, str]:
    keys = [staged.source_key for staged in chunk]
    return dict(
        SourceItemHash.objects.filter(source=source, source_key__in=keys).values_list("source_key", "payload_hash")
    )


def _item_hashes_save(source: str, written: list[StagedRecord]) -> None:
    latest = {staged.source_key: staged.content_hash for staged in written}
    SourceItemHash.objects.bulk_create(
        [SourceItemHash(source=source, source_key=k, payload_hash=h) for k, h in latest.items()],
        update_conflicts=True,
        unique_fields=["source", "source_key"],
        update_fields=["payload_hash"],
        batch_size=STATEMENT_ROWS,
    )


def _unique_keys(
    records: list[tuple[QuoteRecord, StagedRecord]], coin_ids: dict[str, int]
) -> tuple[list[tuple[int, QuoteRecord]], list[tuple[StagedRecord, str]]]:
    """One row per (coin, as_of) in a batch: the later record wins, the earlier is quarantined."""
    latest: dict[tuple, tuple[QuoteRecord, StagedRecord]] = {}
    superseded = []
    for record, staged in records:
        key = (coin_ids[record.source_id], record.as_of)
        if key in latest:
            _, earlier = latest[key]
            reason = f"superseded by the record at position {staged.position}: same coin, source and as_of"
            superseded.append((earlier, reason))
        latest[key] = (record, staged)
    return [(key[0], record) for key, (record, _) in latest.items()], superseded


def _rejection(source_run: SourceRun, staged: StagedRecord, reason: str) -> RejectedRecord:
    return RejectedRecord(
        run_id=source_run.run_id,
        source=source_run.source,
        source_key=staged.source_key,
        position=staged.position,
        reason=reason,
        payload=staged.payload,
    )
