"""Readiness: the database and the broker answer; how fresh the data is, as the wiring says (`freshness`)."""

import time
from collections.abc import Callable
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.redis import redis_client

BROKER_TIMEOUT_SECONDS = 2
_REDIS_SCHEMES = frozenset({"redis", "rediss"})


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def database_check() -> dict:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return {"ok": False, "error": _describe(exc)}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def broker_check(*, url: str | None = None) -> dict:
    """Reach the broker (CELERY_BROKER_URL unless `url` is given) within a short timeout.

    A Redis broker is asked for a PING over the process's pooled connection: a new broker
    connection for every /health cost more than the rest of the report. Other brokers
    (the filesystem transport, AMQP) are connected to afresh.
    """
    url = url or settings.CELERY_BROKER_URL
    started = time.perf_counter()
    try:
        if urlsplit(url).scheme in _REDIS_SCHEMES:
            redis_client(url=url, fail_fast_seconds=BROKER_TIMEOUT_SECONDS).ping()
            transport = "redis"
        else:
            with current_app.connection_for_write(url) as conn:
                conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_SECONDS)
                transport = conn.transport_cls
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return {"ok": False, "error": _describe(exc)}
    return {"ok": True, "transport": transport, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def _database_unready(exc: DatabaseError) -> str:
    """A database that answers but lacks the schema (a fresh one, before `migrate`) is "not migrated"."""
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError:
        pending = []
    return "not migrated" if pending else _describe(exc)


def health_report(*, freshness: Callable[[], dict]) -> dict:
    """The checks, and `freshness()` (a dict with a boolean `stale`) once the database answers."""
    checks = {"database": database_check(), "broker": broker_check()}
    etl = None
    if checks["database"]["ok"]:
        # A report that raises is a failing check, never a 500. One transaction: the reads see one
        # snapshot, and a failed one leaves the connection usable for the migration lookup.
        try:
            with transaction.atomic():
                etl = freshness()
        except DatabaseError as exc:
            checks["database"] = {"ok": False, "error": _database_unready(exc)}
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            checks["etl"] = {"ok": False, "error": _describe(exc)}
    failing = [name for name, check in checks.items() if not check["ok"]]
    if failing:
        status = "unavailable"
    elif etl["stale"]:
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, "version": settings.KASPARRO_VERSION, "failing": failing, "checks": checks, "etl": etl}


class HealthView(APIView):
    """200 when the database and broker answer (ok, or degraded when the data is stale); 503 naming what fails."""

    authentication_classes = []
    permission_classes = []
    # The data's freshness report, given by the wiring: HealthView.as_view(freshness=...).
    freshness: Callable[[], dict] | None = None

    @extend_schema(
        responses={
            200: inline_serializer(
                "Health",
                {
                    "status": serializers.CharField(),
                    "version": serializers.CharField(),
                    "failing": serializers.ListField(),
                    "checks": serializers.DictField(),
                    "etl": serializers.DictField(),
                },
            ),
            503: inline_serializer(
                "HealthUnavailable",
                {
                    "status": serializers.CharField(),
                    "version": serializers.CharField(),
                    "failing": serializers.ListField(),
                },
            ),
        }
    )
    def get(self, request):
        report = health_report(freshness=self.freshness)
        return Response(report, status=503 if report["failing"] else 200)
