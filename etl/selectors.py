"""Reads of the pipeline's state."""

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from coins.models import Coin, Quote
from etl.models import ACTIVE_RUN_STATUSES, Anomaly, EtlRun, RejectedRecord, RunStatus, SourceRun, SourceStatus
from etl.pipeline.drift import drift_changes
from etl.sources.registry import source_names


def etl_run_last(*, status: str | None = None) -> EtlRun | None:
    """The newest run, or the newest with that status."""
    runs = EtlRun.objects.all()
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-id").first()


def etl_run_last_success() -> EtlRun | None:
    return etl_run_last(status=RunStatus.SUCCEEDED)


def sources_last_loaded() -> dict[str, datetime]:
    """When each source last loaded successfully (sources that never did are absent)."""
    return dict(
        SourceRun.objects.filter(status=SourceStatus.SUCCEEDED, finished_at__isnull=False)
        .values_list("source")
        .annotate(last=Max("finished_at"))
        .order_by()
    )


def etl_freshness() -> dict:
    """/health's `etl` block: the last run, the last success, each source's age and whether the data is stale."""
    last, success = etl_run_last(), etl_run_last_success()
    now = timezone.now()

    def describe(run):
        if run is None:
            return None
        ended = run.finished_at
        return {
            "id": run.pk,
            "status": run.status,
            "finished_at": ended.isoformat() if ended else None,
            "age_seconds": round((now - ended).total_seconds(), 1) if ended else None,
        }

    # Fresh while any source loaded lately: a partial run (one source down) still brings new data,
    # and a run whose every source is "not configured" brings none.
    loaded = sources_last_loaded()
    ages = {source: round((now - moment).total_seconds(), 1) for source, moment in loaded.items()}
    stale = not ages or min(ages.values()) > settings.ETL_STALE_AFTER_SECONDS
    return {
        "last_run": describe(last),
        "last_success": describe(success),
        "source_last_loaded_age_seconds": ages,
        "stale": stale,
    }


def etl_runs_list(*, status: str | None = None, trigger: str | None = None) -> QuerySet[EtlRun]:
    runs = EtlRun.objects.all()
    if status:
        runs = runs.filter(status=status)
    if trigger:
        runs = runs.filter(trigger=trigger)
    return runs


def run_sources_loadable(*, run_id: int) -> list[SourceRun]:
    """The run's extracted sources its loader may take now: in the run's order, up to the first still extracting.

    Identity resolution depends on the order sources load in (a symbol-only CSV row takes the coin an API
    source made before it), so sources load in the run's order however their extracts overlap.
    """
    loadable = []
    for source_run in SourceRun.objects.select_related("run").filter(run_id=run_id).order_by("id"):
        if source_run.status in (SourceStatus.PENDING, SourceStatus.EXTRACTING):
            break
        if source_run.status in (SourceStatus.EXTRACTED, SourceStatus.LOADING):
            loadable.append(source_run)
    return loadable


def etl_run_get(*, run_id: int) -> EtlRun:
    return EtlRun.objects.prefetch_related(
        "source_runs", Prefetch("anomalies", Anomaly.objects.select_related("coin"))
    ).get(pk=run_id)


def etl_stats(*, window: int = 100) -> dict:
    """Per source: last run, last success and failure, volumes, mean and p95 duration, success rate, schema drift
    (changes in its last finished run, runs with any) and open anomalies by kind.

    Durations, rates and drift are over each source's last `window` finished source runs.
    """
    since = timezone.now() - timedelta(hours=24)
    open_flags: dict[str, dict[str, int]] = {}
    for source, kind, n in (
        Anomaly.objects.filter(reviewed_at__isnull=True)
        .order_by()
        .values_list("source", "kind")
        .annotate(n=Count("id"))
    ):
        open_flags.setdefault(source, {})[kind] = n
    per_source = {}
    for source in source_names():
        finished = list(
            SourceRun.objects.filter(source=source, finished_at__isnull=False)
            .exclude(status=SourceStatus.NOT_CONFIGURED)
            .select_related("run")
            .defer("schema")
            .order_by("-id")[:window]
        )
        durations = sorted(r.duration_seconds or 0 for r in finished)
        last_run = SourceRun.objects.filter(source=source).select_related("run").order_by("-id").first()
        per_source[source] = {
            "last_run": _source_run_brief(last_run),
            "last_success": _source_run_brief(next((r for r in finished if r.status == SourceStatus.SUCCEEDED), None)),
            "last_failure": _source_run_brief(next((r for r in finished if r.status == SourceStatus.FAILED), None)),
            "records_last_run": last_run.read if last_run else 0,
            "records_last_24h": SourceRun.objects.filter(source=source, run__created_at__gte=since).aggregate(
                n=Coalesce(Sum("read"), 0)
            )["n"],
            "duration_mean_seconds": round(sum(durations) / len(durations), 3) if durations else None,
            "duration_p95_seconds": round(_percentile(durations, 0.95), 3) if durations else None,
            "success_rate": round(sum(r.status == SourceStatus.SUCCEEDED for r in finished) / len(finished), 4)
            if finished
            else None,
            "schema_drift": {
                "last_run_changes": drift_changes(finished[0].schema_drift) if finished else 0,
                "runs_with_drift": sum(1 for r in finished if drift_changes(r.schema_drift)),
            },
            "anomalies_open": open_flags.get(source, {}),
        }
    runs = EtlRun.objects.aggregate(
        total=Count("id"),
        succeeded=Count("id", filter=Q(status=RunStatus.SUCCEEDED)),
        partial=Count("id", filter=Q(status=RunStatus.PARTIAL)),
        failed=Count("id", filter=Q(status=RunStatus.FAILED)),
        active=Count("id", filter=Q(status__in=ACTIVE_RUN_STATUSES)),
    )
    return {
        "sources": per_source,
        "totals": {
            "runs": runs,
            "records_last_24h": sum(s["records_last_24h"] for s in per_source.values()),
            "quotes": Quote.objects.count(),
            "coins": Coin.objects.count(),
            "rejected_records": RejectedRecord.objects.count(),
            "anomalies": Anomaly.objects.aggregate(
                open=Count("id", filter=Q(reviewed_at__isnull=True)),
                reviewed=Count("id", filter=Q(reviewed_at__isnull=False)),
            ),
        },
    }


def _source_run_brief(source_run: SourceRun | None) -> dict | None:
    if source_run is None:
        return None
    return {
        "run_id": source_run.run_id,
        "status": source_run.status,
        "finished_at": source_run.finished_at,
        "read": source_run.read,
        "error": source_run.error,
    }


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
