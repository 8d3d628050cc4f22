"""GET /metrics in the Prometheus text format: HTTP traffic here, the pipeline's figures from etl.metrics.

Several gunicorn workers answer requests and any one of them may answer the
scrape, so what a scrape reads is kept where every process sees it:

- HTTP requests and their latency are added up in the process and, about once a
  second (a thread of each process), at its exit and before it answers a scrape,
  added to a store every web process shares: a Redis hash
  (`kasparro:metrics:http`, one MULTI/EXEC round trip) when REDIS_URL is set,
  else a SQLite file of their own (METRICS_SQLITE_PATH; WAL, one short write
  transaction that never waits on the ETL's writes to the main database). One
  round trip a second instead of one a request; a scrape may miss the last
  second of another process's requests. prometheus_client's multiprocess
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

import atexit
import logging
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
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from core.redis import redis_client

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = tuple(floatToGoString(b) for b in (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REDIS_KEY = "kasparro:metrics:http"
# A request may wait this long for the store; after a failure the store is skipped this long.
_STORE_TIMEOUT_SECONDS = 0.25
_STORE_PAUSE_SECONDS = 30.0
_STORE_ERRORS = (redis.RedisError, sqlite3.Error, OSError)


class _RedisStore:
    def __init__(self, *, url: str):
        self.client = redis_client(url=url, fail_fast_seconds=_STORE_TIMEOUT_SECONDS)

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


class _Pending:
    """This process's counts not yet in the store, and the thread that takes them there."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fields: defaultdict[str, float] = defaultdict(int)
        self.pid: int | None = None

    def add(self, fields: dict[str, float]) -> None:
        with self.lock:
            if self.pid != os.getpid():
                # A forked child starts with its parent's counts, which are the parent's to add.
                self.fields.clear()
                self.pid = os.getpid()
                threading.Thread(target=_flush_every, name="http-metrics", daemon=True).start()
            for field, amount in fields.items():
                self.fields[field] += amount

    def take(self) -> dict[str, float]:
        with self.lock:
            fields, self.fields = self.fields, defaultdict(int)
        return fields


_pending = _Pending()
_FLUSH_SECONDS = 1.0


def _flush_every() -> None:
    while True:
        time.sleep(_FLUSH_SECONDS)
        http_metrics_flush()


def http_request_record(*, request: HttpRequest, status: int, seconds: float) -> None:
    """Count one answered request under its route name (not its path, which has no bound), method and status."""
    match = request.resolver_match
    view = match.view_name if match else "unmatched"
    method = request.method if request.method in _METHODS else "other"
    bucket = next((le for le in LATENCY_BUCKETS if seconds <= float(le)), "+Inf")
    _pending.add(
        {
            f"requests\t{view}\t{method}\t{status}": 1,
            f"bucket\t{view}\t{method}\t{bucket}": 1,
            f"seconds\t{view}\t{method}": seconds,
        }
    )


def http_metrics_flush() -> None:
    """Add this process's pending counts to the shared store; while the store is failing they are dropped."""
    global _store_paused_until
    fields = _pending.take()
    if not fields or time.monotonic() < _store_paused_until:
        return
    try:
        _http_store().add(fields=fields)
    except _STORE_ERRORS:
        _store_paused_until = time.monotonic() + _STORE_PAUSE_SECONDS
        logger.warning(
            "HTTP metrics store failed; not counting requests for %.0f s", _STORE_PAUSE_SECONDS, exc_info=True
        )


atexit.register(http_metrics_flush)


def http_families() -> Iterator[Metric]:
    requests = CounterMetricFamily(
        "kasparro_http_requests",
        "HTTP requests answered, by route name, method and status.",
        labels=["view", "method", "status"],
    )
    latency = HistogramMetricFamily(
        "kasparro_http_request_duration_seconds",
        "Time to answer a request, by route name and method.",
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


class PartsCollector(Collector):
    """Reads every figure at scrape time; a part that cannot be read is logged and reported, the rest served."""

    def __init__(self, parts: dict[str, Callable[[], Iterator[Metric]]]):
        self.parts = parts

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("kasparro_metrics_part_up", "1 when this scrape could read the part.", labels=["part"])
        for part, families in self.parts.items():
            try:
                collected = list(families())
            except Exception:
                logger.exception("metrics: could not read %s", part)
                up.add_metric([part], 0)
            else:
                up.add_metric([part], 1)
                yield from collected
        yield up


def metrics_view_build(*, parts: dict[str, Callable[[], Iterator[Metric]]]) -> Callable[[HttpRequest], HttpResponse]:
    """GET /metrics over the HTTP figures plus the given parts (the wiring adds the pipeline's)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PartsCollector({"http_store": http_families, **parts}))

    @require_safe
    def metrics_view(request: HttpRequest) -> HttpResponse:
        """The Prometheus exposition (OpenMetrics when the scraper asks for it); no authentication, like /health."""
        http_metrics_flush()  # this process's own requests, up to the one before this scrape
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return HttpResponse(encoder(registry), content_type=content_type)

    return metrics_view
