"""The pipeline's Prometheus figures, read at scrape time from the database and the broker.

They are the same whichever process runs the pipeline or answers the scrape;
core.metrics serves them beside the HTTP figures (wired in kasparro/urls.py).
"""

import math
from collections.abc import Iterator

from celery import current_app
from django.conf import settings
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from core.health import BROKER_TIMEOUT_SECONDS
from etl.models import ACTIVE_RUN_STATUSES, Anomaly, AnomalyKind, EtlRun, RunStatus, SourceRun, SourceStatus
from etl.pipeline.drift import drift_changes

_ROW_OUTCOMES = ("inserted", "updated", "unchanged", "rejected")


def etl_families() -> Iterator[Metric]:
    now = timezone.now()
    runs = dict(EtlRun.objects.order_by().values_list("status").annotate(n=Count("id")))
    finished = CounterMetricFamily("kasparro_etl_runs", "Finished ETL runs, by outcome.", labels=["status"])
    active = GaugeMetricFamily("kasparro_etl_runs_active", "ETL runs queued or running.", labels=["status"])
    for status in RunStatus:
        (active if status in ACTIVE_RUN_STATUSES else finished).add_metric([status.value], runs.get(status, 0))
    yield from (finished, active)

    last_run = (
        EtlRun.objects.filter(started_at__isnull=False, finished_at__isnull=False).order_by("-finished_at").first()
    )
    if last_run:
        yield GaugeMetricFamily(
            "kasparro_etl_last_run_duration_seconds",
            "Duration of the last finished ETL run.",
            value=last_run.duration_seconds,
        )

    totals = (
        SourceRun.objects.order_by()
        .values("source")
        .annotate(
            **{field: Sum(field) for field in (*_ROW_OUTCOMES, "http_requests", "http_retries", "http_throttled")},
            last_success=Max("finished_at", filter=Q(status=SourceStatus.SUCCEEDED)),
        )
    )
    rows = CounterMetricFamily(
        "kasparro_etl_rows", "Records loaded per source, by outcome.", labels=["source", "outcome"]
    )
    http = {
        field: CounterMetricFamily(f"kasparro_source_{field}", f"Source API {what}.", labels=["source"])
        for field, what in (
            ("http_requests", "requests, retries included"),
            ("http_retries", "retries"),
            ("http_throttled", "answers of 429 Too Many Requests"),
        )
    }
    age = GaugeMetricFamily(
        "kasparro_etl_source_last_success_age_seconds",
        "Seconds since the source last loaded successfully (+Inf: never); not-configured sources are left out.",
        labels=["source"],
    )
    # A source its last run found not configured (no key) is not expected to load: an age alert would never clear.
    latest_status = dict(
        SourceRun.objects.filter(
            id__in=SourceRun.objects.order_by().values("source").annotate(last=Max("id")).values("last")
        ).values_list("source", "status")
    )
    last_success = {
        source: None for source in settings.ETL_SOURCES if latest_status.get(source) != SourceStatus.NOT_CONFIGURED
    }
    for total in totals:
        for outcome in _ROW_OUTCOMES:
            rows.add_metric([total["source"], outcome], total[outcome])
        for field, family in http.items():
            family.add_metric([total["source"]], total[field])
        if total["source"] in last_success:
            last_success[total["source"]] = total["last_success"]
    for source, success in sorted(last_success.items()):
        age.add_metric([source], (now - success).total_seconds() if success else math.inf)
    yield from (rows, *http.values(), age)

    latest = (
        SourceRun.objects.filter(finished_at__isnull=False)
        .exclude(status=SourceStatus.NOT_CONFIGURED)
        .order_by()
        .values("source")
        .annotate(last=Max("id"))
        .values("last")
    )
    durations = GaugeMetricFamily(
        "kasparro_etl_source_duration_seconds",
        "Stage durations of each source's last finished run.",
        labels=["source", "stage"],
    )
    drift = GaugeMetricFamily(
        "kasparro_etl_schema_drift_changes",
        "Schema changes (fields added, removed, retyped, renamed) in each source's last finished run.",
        labels=["source"],
    )
    for source, extract, load, changes in SourceRun.objects.filter(id__in=latest).values_list(
        "source", "extract_seconds", "load_seconds", "schema_drift"
    ):
        for stage, seconds in (("extract", extract), ("load", load)):
            if seconds is not None:
                durations.add_metric([source, stage], seconds)
        drift.add_metric([source], drift_changes(changes))
    yield from (durations, drift)

    flags = GaugeMetricFamily(
        "kasparro_etl_anomalies_open", "Anomaly flags nobody has marked reviewed.", labels=["source", "kind"]
    )
    unreviewed = Anomaly.objects.filter(reviewed_at__isnull=True).order_by().values_list("source", "kind")
    open_counts = {(source, kind): n for source, kind, n in unreviewed.annotate(n=Count("id"))}
    for source in settings.ETL_SOURCES:
        for kind in AnomalyKind:
            flags.add_metric([source, kind.value], open_counts.get((source, kind.value), 0))
    yield flags


def queue_families() -> Iterator[Metric]:
    queue = current_app.conf.task_default_queue
    with current_app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
        # Declaring counts the messages on any kombu transport: a Redis list's LLEN, the filesystem's files.
        depth = connection.default_channel.queue_declare(queue=queue).message_count
    family = GaugeMetricFamily("kasparro_celery_queue_depth", "Messages waiting in the Celery queue.", labels=["queue"])
    family.add_metric([queue], depth)
    yield family
