"""What an operator scrapes and ships: /metrics, JSON log lines with their context, request ids."""

import json
import logging
import math
import os
import subprocess
import sys
from datetime import datetime
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError
from django.db.models import Count, Sum
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from core import metrics
from core.logging import ContextFilter, JsonFormatter, log_context
from etl.models import EtlRun, SourceRun, Trigger
from etl.pipeline.drift import drift_changes
from etl.services import etl_run_create
from etl.tasks import extract_source_task
from tests.factories import ROOT, run_etl, side_redis_url, write_csv

pytestmark = pytest.mark.django_db

ROWS = [
    "BTC,97000.12,1930177593571.2,2024-11-21T00:00:00Z,coingecko",
    "ETH,3400.5,409000000000,2024-11-21T00:00:00Z,coingecko",
    "ETH,lots,1,2024-11-21T01:00:00Z,coingecko",
]


@pytest.fixture(autouse=True)
def http_metrics_store(settings, tmp_path, monkeypatch):
    """This test's own HTTP metrics store, of the kind the settings choose; returns its environment."""
    monkeypatch.setattr(metrics, "_store_paused_until", 0.0)
    settings.METRICS_SQLITE_PATH = tmp_path / "metrics.sqlite3"
    if settings.REDIS_URL:
        settings.REDIS_URL = side_redis_url()
    return {"REDIS_URL": settings.REDIS_URL, "METRICS_SQLITE_PATH": str(settings.METRICS_SQLITE_PATH)}


@pytest.fixture
def json_log():
    """Records logged during the test, as the JSON lines the console handler writes."""
    stream = StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(level)


def scrape(client: Client) -> dict[tuple, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, *sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict[tuple, float], name: str, **labels: str) -> float:
    """The sample's value; a sample missing from the scrape fails the test (it is not a zero)."""
    key = (name, *sorted(labels.items()))
    assert key in samples, f"{name}{labels} is not in the scrape"
    return samples[key]


def test_a_source_not_configured_has_no_last_success_age_to_alert_on(client, csv_path, settings):
    settings.ETL_SOURCES = ["coincap", "legacy_csv"]
    settings.COINCAP_API_KEY = ""
    write_csv(csv_path, ROWS[:1])
    run_etl()  # succeeded: coincap is only not configured
    samples = scrape(client)
    assert 0 <= value(samples, "kasparro_etl_source_last_success_age_seconds", source="legacy_csv") < 60
    assert ("kasparro_etl_source_last_success_age_seconds", ("source", "coincap")) not in samples
    settings.ETL_SOURCES = ["coinpaprika", "legacy_csv"]  # configured but never loaded: +Inf, an alert is due
    assert value(scrape(client), "kasparro_etl_source_last_success_age_seconds", source="coinpaprika") == math.inf


def test_etl_figures_equal_the_database(client, csv_path):
    write_csv(csv_path, ROWS)
    run_etl()
    write_csv(csv_path, ["BTC,1"], header="Ticker,MarketCap")
    with pytest.raises(CommandError):
        run_etl()
    samples = scrape(client)

    runs = dict(EtlRun.objects.values_list("status").annotate(n=Count("id")))
    assert runs == {"succeeded": 1, "failed": 1}
    for status in ("succeeded", "partial", "failed"):
        assert value(samples, "kasparro_etl_runs_total", status=status) == runs.get(status, 0)
    assert value(samples, "kasparro_etl_runs_active", status="running") == 0
    totals = SourceRun.objects.filter(source="legacy_csv").aggregate(
        *(Sum(outcome) for outcome in ("inserted", "updated", "unchanged", "rejected"))
    )
    assert totals == {"inserted__sum": 2, "updated__sum": 0, "unchanged__sum": 0, "rejected__sum": 1}
    for outcome in ("inserted", "updated", "unchanged", "rejected"):
        assert (
            value(samples, "kasparro_etl_rows_total", source="legacy_csv", outcome=outcome) == totals[f"{outcome}__sum"]
        )
    assert value(samples, "kasparro_source_http_requests_total", source="legacy_csv") == 0
    assert 0 <= value(samples, "kasparro_etl_source_last_success_age_seconds", source="legacy_csv") < 60
    assert ("kasparro_etl_source_duration_seconds", ("source", "legacy_csv"), ("stage", "extract")) in samples
    # The second file lacks three of the first's columns: its run's drift.
    last_drift = SourceRun.objects.filter(source="legacy_csv").latest("id").schema_drift
    assert value(samples, "kasparro_etl_schema_drift_changes", source="legacy_csv") == drift_changes(last_drift) == 3
    assert value(samples, "kasparro_etl_anomalies_open", source="legacy_csv", kind="price_jump") == 0
    assert value(samples, "kasparro_etl_last_run_duration_seconds") >= 0
    assert ("kasparro_celery_queue_depth", ("queue", "kasparro")) in samples
    assert all(
        value(samples, "kasparro_metrics_part_up", part=part) == 1 for part in ("http_store", "database", "broker")
    )


def test_http_requests_are_counted_by_route_method_and_status(client):
    before = scrape(client)
    client.get("/data")
    client.get("/data")
    client.get("/data?page_size=0")
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        # A fresh store has no sample before the requests; after them, it must.
        return value(after, name, **labels) - before.get((name, *sorted(labels.items())), 0.0)

    assert delta("kasparro_http_requests_total", view="data", method="GET", status="200") == 2
    assert delta("kasparro_http_requests_total", view="data", method="GET", status="400") == 1
    assert delta("kasparro_http_request_duration_seconds_count", view="data", method="GET") == 3
    assert delta("kasparro_http_request_duration_seconds_bucket", view="data", method="GET", le="+Inf") == 3
    assert delta("kasparro_http_request_duration_seconds_sum", view="data", method="GET") > 0


def test_requests_answered_by_other_processes_are_in_the_scrape(client, http_metrics_store):
    labels = {"view": "unmatched", "method": "GET", "status": "404"}
    before = scrape(client).get(("kasparro_http_requests_total", *sorted(labels.items())), 0.0)  # a fresh store: none
    env = {**os.environ, **http_metrics_store, "ALLOWED_HOSTS": "testserver"}
    answer_a_404 = "import django; django.setup(); from django.test import Client; Client().get('/no-such-page')"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", answer_a_404], cwd=ROOT, env=env, check=True, capture_output=True)
    assert value(scrape(client), "kasparro_http_requests_total", **labels) - before == 2


def test_a_store_that_is_down_fails_no_request_and_the_scrape_says_so(client, settings, json_log):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    assert client.get("/data").status_code == 200
    samples = scrape(client)  # which adds this process's counts to the store first
    assert any(r["logger"] == "core.metrics" and r["level"] == "WARNING" for r in json_log())
    assert value(samples, "kasparro_metrics_part_up", part="http_store") == 0
    assert value(samples, "kasparro_metrics_part_up", part="database") == 1


def test_metrics_answers_plain_http_when_the_site_redirects_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/data").status_code == 301
    assert client.get("/metrics").status_code == 200


def test_log_lines_of_a_run_carry_its_run_id_and_source(csv_path, json_log):
    write_csv(csv_path, ROWS)
    run_etl("-v", "2")  # in a terminal, run_etl shows the INFO lines only when asked: its own lines say as much
    run = EtlRun.objects.get()
    records = {r["message"]: r for r in json_log()}
    for message in (f"extracted 3 records from legacy_csv in run {run.pk}", f"loaded legacy_csv in run {run.pk}"):
        assert (records[message]["run_id"], records[message]["source"]) == (run.pk, "legacy_csv")
    assert records[f"ETL run {run.pk} finished: succeeded"]["run_id"] == run.pk


def test_log_lines_of_a_task_carry_its_task_id(csv_path, json_log):
    write_csv(csv_path, ROWS)
    run, _ = etl_run_create(trigger=Trigger.CLI)
    extract_source_task.apply(kwargs={"run_id": run.pk, "source": "legacy_csv"}, task_id="task-observability-1")
    extracted = next(r for r in json_log() if r["message"].startswith("extracted"))
    assert (extracted["task_id"], extracted["run_id"], extracted["source"]) == (
        "task-observability-1",
        run.pk,
        "legacy_csv",
    )


def test_the_request_id_round_trips_and_is_in_the_request_log_lines(json_log):
    client = Client(raise_request_exception=False)
    response = client.get("/data?page_size=0", HTTP_X_REQUEST_ID="req-observability-1")
    assert response["X-Request-ID"] == "req-observability-1"
    with mock.patch("core.health.health_report", side_effect=RuntimeError("boom")):
        assert client.get("/health", HTTP_X_REQUEST_ID="req-observability-2").status_code == 500
    records = {r["message"]: r for r in json_log() if r["logger"] == "django.request"}
    assert records["Bad Request: /data"]["request_id"] == "req-observability-1"
    failure = records["Internal Server Error: /health"]
    assert failure["request_id"] == "req-observability-2" and "RuntimeError: boom" in failure["exception"]


def test_the_json_formatter_writes_one_valid_object_per_record_with_the_exception():
    with log_context(run_id=7, source="legacy_csv"):
        try:
            raise ValueError("boom")
        except ValueError:
            record = logging.getLogger("tests").makeRecord(
                "tests", logging.ERROR, __file__, 1, "failed on\nline %d, ünïcode", (2,), sys.exc_info()
            )
        ContextFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert (entry["level"], entry["logger"], entry["message"]) == ("ERROR", "tests", "failed on\nline 2, ünïcode")
    assert (entry["run_id"], entry["source"]) == (7, "legacy_csv") and "request_id" not in entry
    assert entry["exception"].startswith("Traceback") and "ValueError: boom" in entry["exception"]
    assert entry["timestamp"].endswith("Z") and datetime.fromisoformat(entry["timestamp"])
