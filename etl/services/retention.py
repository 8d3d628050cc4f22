"""How long the pipeline keeps what it staged."""

from datetime import timedelta

from django.utils import timezone

from etl.models import ACTIVE_RUN_STATUSES, EtlRun, RawRecord


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
