"""Thin Celery tasks: ids and names in, one service call, retry policy and time limits here."""

import logging

from celery import Task, shared_task
from django.conf import settings
from django.db import DatabaseError

from etl.models import Trigger
from etl.services import (
    etl_run_fail,
    etl_run_trigger,
    raw_records_prune,
    run_normalize_and_upsert,
    source_extract_hand_off,
)

logger = logging.getLogger(__name__)


class RunStepTask(Task):
    """A step of a run: when its retries are spent, the run is ended as failed instead of left running."""

    acks_late = True
    reject_on_worker_lost = True
    # Only a database hiccup is worth a task retry; source faults are recorded by the service itself.
    autoretry_for = (DatabaseError,)
    retry_backoff = 5
    retry_backoff_max = 120
    retry_jitter = True
    max_retries = 5

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        run_id = kwargs.get("run_id", args[0] if args else None)
        if run_id is not None:
            etl_run_fail(run_id=run_id, error=f"{self.name} failed: {type(exc).__name__}: {exc}")


@shared_task(
    base=RunStepTask, soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT, time_limit=settings.CELERY_TASK_TIME_LIMIT
)
def extract_source_task(run_id: int, source: str) -> None:
    source_extract_hand_off(run_id=run_id, source=source)


@shared_task(
    base=RunStepTask, soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT, time_limit=settings.CELERY_TASK_TIME_LIMIT
)
def normalize_and_upsert_task(run_id: int) -> None:
    run_normalize_and_upsert(run_id=run_id)


# Both limits are set on every task: a hard limit below the global soft one makes Celery refuse to send it.
@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def scheduled_run_task() -> None:
    """Fired by beat; a run already active means this hour's trigger is skipped, never doubled."""
    run, created = etl_run_trigger(trigger=Trigger.SCHEDULE)
    if not created:
        logger.info("scheduled ETL skipped: run %s is %s", run.pk, run.status)


@shared_task(acks_late=True, soft_time_limit=25 * 60, time_limit=30 * 60)
def raw_records_prune_task() -> None:
    deleted = raw_records_prune(older_than_days=settings.RAW_RECORD_RETENTION_DAYS)
    logger.info("pruned %s raw records older than %s days", deleted, settings.RAW_RECORD_RETENTION_DAYS)
