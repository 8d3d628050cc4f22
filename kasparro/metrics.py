"""GET /metrics in the Prometheus text format: HTTP traffic, the pipeline's figures and the queue.

Several gunicorn workers answer requests and any one of them may answer the
scrape, so nothing here is kept in a process's memory:

- HTTP requests and their latency are added, per request, to a store every
  web process shares: a Redis hash (`kasparro:metrics:http`, one MULTI/EXEC
  round trip) when REDIS_URL is set, else a SQLite file of their own
  (METRICS_SQLITE_PATH; WAL, one short write transaction that never waits on
  the ETL's writes to the main database). prometheus_client's multiprocess
  mode would do too, but it needs its directory wiped before the workers start
  and gunicorn hooks; these stores need neither, and their counters survive a
  restart. A store that fails is left alone for a while and requests go
  uncounted; a request never fails for it.
- The pipeline's figures are read at scrape time from the database (a few
  aggregate queries over EtlRun and SourceRun) and the queue depth from the
  broker, so they are the same whichever process runs the pipeline or answers.

Per-process collectors (process_*, python_*) are left out: with several
workers they would describe whichever worker answered.
"""

import logging
import math
import os
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import redis
from django.conf import settings
from django.db.models import Count, Max, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_safe
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString
from redis.backoff import NoBackoff
from redis.retry import Retry

from etl.models import ACTIVE_RUN_STATUSES, EtlRun, RunStatus, SourceRun, SourceStatus
from kasparro.celery import app as celery_app

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = tuple(floatToGoString(b) for b in (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REDIS_KEY = "kasparro:metrics:http"
# A request may wait this long for the store; after a failure the store is skipped this long.
_STORE_TIMEOUT_SECONDS = 0.25
_STORE_PAUSE_SECONDS = 30.0
_STORE_ERRORS = (redis.RedisError, sqlite3.Error, OSError)
_BROKER_TIMEOUT_SECONDS = 2
_ROW_OUTCOMES = ("inserted", "updated", "unchanged", "rejected")


class _RedisStore:
    def __init__(self, *, url: str):
        self.client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=_STORE_TIMEOUT_SECONDS,
            socket_connect_timeout=_STORE_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),
        )

    def add(self, *, fields: dict[str, float]) -> None:
        # MULTI/EXEC: a scrape sees a request's count, bucket and seconds together or not at all.
        with self.client.pipeline() as pipe:
            for field, amount in fields.items():
                if isinstance(amount, int):
                    pipe.hincrby(_REDIS_KEY, field, amount)
                else:
                    pipe.hincrbyfloat(_REDIS_KEY, field, amount)
            pipe.execute()

    def read(self) -> dict[str, float]:
        return {field: float(value) for field, value in self.client.hgetall(_REDIS_KEY).items()}


class _SqliteStore:
    def __init__(self, *, path: Path):
        self.path = path
        self.local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        # One connection per thread, and a new one after a fork: sqlite3 connections travel neither way.
        if getattr(self.local, "pid", None) != os.getpid():
            connection = sqlite3.connect(self.path, timeout=_STORE_TIMEOUT_SECONDS, isolation_level="IMMEDIATE")
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS http_metric (field TEXT PRIMARY KEY, value REAL NOT NULL) WITHOUT ROWID"
            )
            self.local.connection, self.local.pid = connection, os.getpid()
        return self.local.connection

    def add(self, *, fields: dict[str, float]) -> None:
        with self._connection() as connection:
            connection.executemany(
                "INSERT INTO http_metric (field, value) VALUES (?, ?)"
                " ON CONFLICT (field) DO UPDATE SET value = value + excluded.value",
                fields.items(),
            )

    def read(self) -> dict[str, float]:
        return dict(self._connection().execute("SELECT field, value FROM http_metric"))


@cache
def _store(*, redis_url: str, sqlite_path: Path) -> _RedisStore | _SqliteStore:
    return _RedisStore(url=redis_url) if redis_url else _SqliteStore(path=sqlite_path)


def _http_store() -> _RedisStore | _SqliteStore:
    return _store(redis_url=settings.REDIS_URL, sqlite_path=Path(settings.METRICS_SQLITE_PATH))


_store_paused_until = 0.0


def http_request_record(*, request: HttpRequest, status: int, seconds: float) -> None:
    """Count one answered request under its route name (not its path, which has no bound), method and status."""
    global _store_paused_until
    if time.monotonic() < _store_paused_until:
        return
    match = request.resolver_match
    view = match.view_name if match else "unmatched"
    method = request.method if request.method in _METHODS else "other"
    bucket = next((le for le in LATENCY_BUCKETS if seconds <= float(le)), "+Inf")
    fields = {f"requests\t{view}\t{method}\t{status}": 1, f"bucket\t{view}\t{method}\t{bucket}": 1,
              f"seconds\t{view}\t{method}": seconds}
    try:
        _http_store().add(fields=fields)
    except _STORE_ERRORS:
        _store_paused_until = time.monotonic() + _STORE_PAUSE_SECONDS
        logger.warning("HTTP metrics store failed; not counting requests for %.0f s", _STORE_PAUSE_SECONDS,
                       exc_info=True)


def _http_families() -> Iterator[Metric]:
    requests = CounterMetricFamily(
        "kasparro_http_requests", "HTTP requests answered, by route name, method and status.",
        labels=["view", "method", "status"],
    )
    latency = HistogramMetricFamily(
        "kasparro_http_request_duration_seconds", "Time to answer a request, by route name and method.",
        labels=["view", "method"],
    )
    buckets: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    sums: dict[tuple[str, str], float] = {}
    for field, value in sorted(_http_store().read().items()):
        kind, view, method, *rest = field.split("\t")
        if kind == "requests":
            requests.add_metric([view, method, *rest], value)
        elif kind == "bucket":
            buckets[view, method][rest[0]] = value
        else:
            sums[view, method] = value
    for (view, method), counts in buckets.items():
        cumulative, total = [], 0.0
        for le in (*LATENCY_BUCKETS, "+Inf"):
            total += counts.get(le, 0.0)
            cumulative.append((le, total))
        latency.add_metric([view, method], cumulative, sums.get((view, method), 0.0))
    yield requests
    yield latency


def _etl_families() -> Iterator[Metric]:
    now = timezone.now()
    runs = dict(EtlRun.objects.order_by().values_list("status").annotate(n=Count("id")))
    finished = CounterMetricFamily("kasparro_etl_runs", "Finished ETL runs, by outcome.", labels=["status"])
    active = GaugeMetricFamily("kasparro_etl_runs_active", "ETL runs queued or running.", labels=["status"])
    for status in RunStatus:
        (active if status in ACTIVE_RUN_STATUSES else finished).add_metric([status.value], runs.get(status, 0))
    yield from (finished, active)

    last_run = (
        EtlRun.objects.filter(started_at__isnull=False, finished_at__isnull=False)
        .order_by("-finished_at")
        .values_list("started_at", "finished_at")
        .first()
    )
    if last_run:
        yield GaugeMetricFamily("kasparro_etl_last_run_duration_seconds", "Duration of the last finished ETL run.",
                                value=(last_run[1] - last_run[0]).total_seconds())

    totals = SourceRun.objects.order_by().values("source").annotate(
        **{field: Sum(field) for field in (*_ROW_OUTCOMES, "http_requests", "http_retries", "http_throttled")},
        last_success=Max("finished_at", filter=Q(status=SourceStatus.SUCCEEDED)),
    )
    rows = CounterMetricFamily("kasparro_etl_rows", "Records loaded per source, by outcome.", labels=["source", "outcome"])
    http = {
        field: CounterMetricFamily(f"kasparro_source_{field}", f"Source API {what}.", labels=["source"])
        for field, what in (("http_requests", "requests, retries included"), ("http_retries", "retries"),
                            ("http_throttled", "answers of 429 Too Many Requests"))
    }
    age = GaugeMetricFamily("kasparro_etl_source_last_success_age_seconds",
                            "Seconds since the source last loaded successfully (+Inf: never).", labels=["source"])
    last_success = {source: None for source in settings.ETL_SOURCES}
    for total in totals:
        for outcome in _ROW_OUTCOMES:
            rows.add_metric([total["source"], outcome], total[outcome])
        for field, family in http.items():
            family.add_metric([total["source"]], total[field])
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
    durations = GaugeMetricFamily("kasparro_etl_source_duration_seconds",
                                  "Stage durations of each source's last finished run.", labels=["source", "stage"])
    for source, extract, load in SourceRun.objects.filter(id__in=latest).values_list(
        "source", "extract_seconds", "load_seconds"
    ):
        for stage, seconds in (("extract", extract), ("load", load)):
            if seconds is not None:
                durations.add_metric([source, stage], seconds)
    yield durations


def _queue_families() -> Iterator[Metric]:
    queue = celery_app.conf.task_default_queue
    with celery_app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1, timeout=_BROKER_TIMEOUT_SECONDS)
        # Declaring counts the messages on any kombu transport: a Redis list's LLEN, the filesystem's files.
        depth = connection.default_channel.queue_declare(queue=queue).message_count
    family = GaugeMetricFamily("kasparro_celery_queue_depth", "Messages waiting in the Celery queue.", labels=["queue"])
    family.add_metric([queue], depth)
    yield family


class KasparroCollector(Collector):
    """Reads every figure at scrape time; a part that cannot be read is logged and reported, the rest served."""

    parts: dict[str, Callable[[], Iterator[Metric]]] = {
        "http_store": _http_families,
        "database": _etl_families,
        "broker": _queue_families,
    }

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("kasparro_metrics_part_up", "1 when this scrape could read the part.", labels=["part"])
        for part, families in self.parts.items():
            try:
                collected = list(families())
            except Exception:  # noqa: BLE001 - one unreadable part must not hide the others
                logger.exception("metrics: could not read %s", part)
                up.add_metric([part], 0)
            else:
                up.add_metric([part], 1)
                yield from collected
        yield up


registry = CollectorRegistry(auto_describe=False)
registry.register(KasparroCollector())


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus exposition (OpenMetrics when the scraper asks for it); no authentication, like /health."""
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(registry), content_type=content_type)
