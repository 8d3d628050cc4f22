"""A run's life: created (single flight), queued after commit, leased by heartbeats, finalized.

The database decides who runs: a partial unique index allows one queued or
running run, and a run whose heartbeat is older than ETL_RUN_LEASE_SECONDS is
declared abandoned, so a dead worker never blocks the next trigger. Every write
of a late worker goes through `run_active_lock`, so it cannot write beside the
run that replaced it. A run's extracts go out together, so several workers share
it; its loads are one loader's at a time (`run_loader_claim`), which lets the
extract of one source overlap the load of another.
"""

import logging
import time
from datetime import timedelta

from celery import group, signature
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from coins.caching import data_version_bump
from coins.candles import candles_refresh
from coins.consensus import consensus_refresh
from etl.models import ACTIVE_RUN_STATUSES, EtlRun, RawRecord, RunStatus, SourceRun, SourceStatus
from etl.selectors import run_sources_loadable
from etl.sources.registry import source_names

logger = logging.getLogger(__name__)

# Dispatched by name: the tasks call these services, so importing them here would be a cycle.
EXTRACT_TASK = "etl.tasks.extract_source_task"
LOAD_TASK = "etl.tasks.normalize_and_upsert_task"
# A source in one of these states will not change again in this run.
SOURCE_DONE = (SourceStatus.SUCCEEDED, SourceStatus.FAILED, SourceStatus.NOT_CONFIGURED)


class UnknownSource(ValueError):
    pass


class QueueUnavailable(Exception):
    """The broker refused or could not be reached; the run was ended as failed."""


class RunNoLongerActive(Exception):
    """The run was declared abandoned (or ended) while this process was still working on it."""


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
    """Create a run and queue its extracts once the run is committed; or return the active run.

    Raises QueueUnavailable, with the run ended as failed, if the broker does not take them.
    The block is durable (never inside a caller's transaction), so the commit, and with it the
    enqueue and its failure, happen here: every caller sees QueueUnavailable, none a late error.
    """

    def enqueue() -> None:
        try:
            _run_send(run_id=run.pk, sources=run.sources)
        except Exception as exc:
            # A queued run no task will ever take would block every trigger until its lease ran out.
            etl_run_fail(run_id=run.pk, error=f"could not queue the run: {type(exc).__name__}: {exc}")
            raise QueueUnavailable(f"the broker did not take the run: {exc}") from exc

    with transaction.atomic(durable=True):
        run, created = etl_run_create(trigger=trigger, sources=sources, full=full, requested_by=requested_by)
        if created:
            transaction.on_commit(enqueue)
    return run, created


def _run_send(*, run_id: int, sources: list[str]) -> None:
    """Send the run's extracts together, one task a source: each hands the run to its loader as it ends."""
    group(signature(EXTRACT_TASK, kwargs={"run_id": run_id, "source": source}) for source in sources).apply_async()


# A worker sends the loader when an extract ends; a broker restarting at that moment must not end the
# run. About 5 minutes of retries, well inside ETL_RUN_LEASE_SECONDS. The extracts keep Celery's short
# default: the trigger's caller is told at once that the broker is down.
NEXT_STEP_RETRY_POLICY = {"max_retries": 60, "interval_start": 0, "interval_step": 1, "interval_max": 5}


def _loader_send(*, run_id: int) -> None:
    signature(LOAD_TASK, kwargs={"run_id": run_id}).apply_async(retry_policy=NEXT_STEP_RETRY_POLICY)


def run_loader_claim(*, run_id: int) -> bool:
    """An extract has ended: queue the run's loader unless one is already queued or loading. True if this call did.

    The claim is checked under the run's row, as `run_loader_release` gives it up, so an extract ending
    while the loader takes its last look is either seen by that look or finds the claim free and queues
    a new loader: no source is left extracted and unloaded.
    """
    with transaction.atomic():
        try:
            run_active_lock(run_id=run_id)
        except RunNoLongerActive as exc:
            logger.warning("%s", exc)
            return False
        claimed = EtlRun.objects.filter(pk=run_id, loader_claimed_at__isnull=True).update(
            loader_claimed_at=timezone.now()
        )
        if claimed:
            transaction.on_commit(lambda: _loader_send(run_id=run_id))
    return bool(claimed)


def run_loader_release(*, run_id: int) -> bool:
    """The loader's last look, under the run's row: False while a source waits to be loaded (load it, then
    look again); else the claim is given up and the run finalized, which waits for sources still extracting
    (the last of them queues a loader again). Finalizing under the row keeps a second loader from doing it too.
    Raises RunNoLongerActive."""
    with transaction.atomic():
        run_active_lock(run_id=run_id)
        if run_sources_loadable(run_id=run_id):
            return False
        EtlRun.objects.filter(pk=run_id).update(loader_claimed_at=None)
        etl_run_finalize(run_id=run_id)
    return True


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
        SourceRun.objects.filter(run_id=run_id).exclude(status__in=SOURCE_DONE).update(
            status=SourceStatus.FAILED, error=error, finished_at=now
        )


def etl_run_heartbeat(*, run_id: int) -> None:
    """Inside a batch's transaction: renew the run's lease, unless another worker holds the run's row (a load
    batch under run_active_lock), which beats for it. Skipped, not waited for, so an extract never queues
    behind a load; one statement. SQLite has no row locks: there it always beats."""
    free = EtlRun.objects.filter(pk=run_id).select_for_update(no_key=True, skip_locked=True).values("pk")
    EtlRun.objects.filter(pk__in=free).update(heartbeat_at=timezone.now())


def etl_run_start(*, run_id: int) -> None:
    now = timezone.now()
    EtlRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now
    )


def run_active_lock(*, run_id: int) -> None:
    """Inside a transaction: hold the run's row and check it is still active, so that an abandoned
    run's late worker cannot write beside the run that replaced it. FOR NO KEY UPDATE on PostgreSQL: it
    still orders every writer of the run's row, while another worker's extract, whose raw records name the
    run (a key share of its row), goes on beside a load instead of waiting for each of its batches."""
    status = EtlRun.objects.select_for_update(no_key=True).filter(pk=run_id).values_list("status", flat=True).first()
    if status not in ACTIVE_RUN_STATUSES:
        raise RunNoLongerActive(f"run {run_id} is {status}; its late worker stops without writing")


def etl_run_finalize(*, run_id: int) -> EtlRun:
    """Set the run's outcome from its sources: succeeded, partial (some failed) or failed (none loaded)."""
    run = EtlRun.objects.get(pk=run_id)
    if run.status not in ACTIVE_RUN_STATUSES:
        return run
    statuses = list(SourceRun.objects.filter(run_id=run_id).values_list("source", "status", "error"))
    if any(status not in SOURCE_DONE for _, status, _ in statuses):
        return run  # a source is still extracting or loading elsewhere
    failed = [(source, error) for source, status, error in statuses if status == SourceStatus.FAILED]
    loaded = [source for source, status, _ in statuses if status == SourceStatus.SUCCEEDED]
    if loaded:
        run_consensus_refresh(run_id=run_id)
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


def run_consensus_refresh(*, run_id: int) -> None:
    """The consensus and the candles of the intervals the run's quotes fall in. Their failure is logged, never
    the run's: the quotes are committed, and the next run touching those intervals computes them again."""
    started = time.perf_counter()
    try:
        written = consensus_refresh(run_id=run_id)
        consensus_seconds = time.perf_counter() - started
        candles = candles_refresh(run_id=run_id)
    except DatabaseError:
        logger.exception("consensus or candles of run %s failed", run_id)
        return
    logger.info(
        "consensus of run %s: %s intervals in %.2f s, %s candles in %.2f s",
        run_id,
        written,
        consensus_seconds,
        candles,
        time.perf_counter() - started - consensus_seconds,
    )
    if written or candles:
        transaction.on_commit(data_version_bump)
