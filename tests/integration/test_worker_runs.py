"""The Celery pipeline end to end, with real worker processes on the test database and broker."""

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from coins.models import Coin, Quote, SourceListing
from devtools.source_server import SourceServer
from etl.models import Checkpoint, EtlRun, RejectedRecord, RunStatus, SourceRun, Trigger
from etl.services import etl_run_trigger
from tests.factories import staff_client, write_csv
from tests.worker import wait_for

pytestmark = pytest.mark.slow  # real processes: workers, gunicorn, make run

CSV_ROWS = [f"C{i},{i + 1}.5,{i * 1000},2024-11-21T00:00:00Z,x" for i in range(300)]


def run_finished(run_id: int):
    run = EtlRun.objects.get(pk=run_id)
    return run if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING) else None


def _trigger(client: APIClient) -> int | None:
    response = client.post("/run-etl", {}, format="json")
    return response.json()["run_id"] if response.status_code == 202 else None


@pytest.mark.django_db(transaction=True)
def test_post_run_etl_queues_a_run_that_the_worker_completes(csv_path, start_worker):
    write_csv(csv_path, CSV_ROWS)
    start_worker(LEGACY_CSV_PATH=str(csv_path), ETL_SOURCES="legacy_csv")
    response = staff_client().post("/run-etl", {}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == RunStatus.QUEUED and body["url"].endswith(f"/runs/{body['run_id']}")
    run = wait_for(lambda: run_finished(body["run_id"]), message="the run to finish")
    assert run.status == RunStatus.SUCCEEDED and run.trigger == Trigger.API and run.requested_by == "ops"
    assert APIClient().get("/data?page_size=1000").json()["results"].__len__() == 300
    detail = APIClient().get(body["url"]).json()
    assert detail["source_runs"][0]["inserted"] == 300 and detail["source_runs"][0]["status"] == "succeeded"


@pytest.mark.django_db(transaction=True)
def test_a_failing_source_makes_the_run_partial_and_the_others_load(csv_path, start_worker):
    write_csv(csv_path, CSV_ROWS[:10])
    start_worker(
        LEGACY_CSV_PATH=str(csv_path),
        ETL_SOURCES="coinpaprika,legacy_csv",
        COINPAPRIKA_BASE_URL="http://127.0.0.1:9/v1",
        SOURCE_MAX_RETRIES="1",
        SOURCE_BACKOFF_SECONDS="0.01",
        COINPAPRIKA_RATE_LIMIT="0",
    )
    body = staff_client().post("/run-etl", {"sources": ["coinpaprika", "legacy_csv"]}, format="json").json()
    run = wait_for(lambda: run_finished(body["run_id"]), message="the run to finish")
    assert run.status == RunStatus.PARTIAL
    paprika = SourceRun.objects.get(run=run, source="coinpaprika")
    assert paprika.status == "failed" and "connection failed" in paprika.error and paprika.http_requests == 2
    assert SourceRun.objects.get(run=run, source="legacy_csv").inserted == 10
    assert "coinpaprika:" in run.error


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_load_loses_nothing_and_the_next_run_completes(csv_path, start_worker, settings):
    rows = [f"C{i % 500},{i}.25,1,2024-11-{1 + i // 500:02d}T00:00:00Z,x" for i in range(6000)]
    write_csv(csv_path, rows)
    env = {
        "LEGACY_CSV_PATH": str(csv_path),
        "ETL_SOURCES": "legacy_csv",
        "ETL_BATCH_SIZE": "100",
        "ETL_RUN_LEASE_SECONDS": "2",
    }
    first_worker = start_worker(**env)
    body = staff_client().post("/run-etl", {}, format="json").json()
    wait_for(
        lambda: (SourceRun.objects.get(run_id=body["run_id"]).load_cursor or 0) > 0,
        interval=0.02,
        message="the load to start",
    )
    first_worker.kill()
    loaded_before_kill = Quote.objects.count()
    assert 0 < loaded_before_kill < 6000
    assert EtlRun.objects.get(pk=body["run_id"]).status == RunStatus.RUNNING

    settings.ETL_RUN_LEASE_SECONDS = 2
    start_worker(**env)
    client = staff_client("ops2")
    second = wait_for(lambda: _trigger(client), timeout=30, interval=1, message="the stuck run to be taken over")
    run = wait_for(lambda: run_finished(second), message="the next run to finish")
    assert run.status == RunStatus.SUCCEEDED
    assert EtlRun.objects.get(pk=body["run_id"]).status == RunStatus.FAILED
    assert Quote.objects.count() == 6000  # no quote lost, none twice (the key is unique)
    source_run = SourceRun.objects.get(run=run)
    assert source_run.inserted + source_run.unchanged == 6000 and source_run.inserted == 6000 - loaded_before_kill


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_triggers_start_exactly_one_run(csv_path, celery_queue):
    clients = [staff_client(f"ops{i}") for i in range(10)]
    barrier = threading.Barrier(10)
    answers = []

    def post(client):
        barrier.wait()
        try:
            answers.append(client.post("/run-etl", {}, format="json"))
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(a.status_code for a in answers)
    assert codes == [202] + [409] * 9
    assert len({a.json()["run_id"] for a in answers}) == 1
    assert EtlRun.objects.count() == 1


def _outcome() -> dict:
    """What a run leaves behind, by natural keys: the ids and timestamps of two fresh databases differ."""
    quote_fields = [
        f.name for f in Quote._meta.fields if f.name not in ("id", "coin", "run", "created_at", "updated_at")
    ]
    return {
        "coins": sorted(Coin.objects.values_list("slug", "symbol", "name", "provisional")),
        "listings": sorted(SourceListing.objects.values_list("source", "source_id", "coin__slug", "match_rule")),
        "quotes": sorted(Quote.objects.values_list("coin__slug", *quote_fields)),
        "counts": sorted(
            SourceRun.objects.values_list("source", "status", "read", "inserted", "unchanged", "rejected")
        ),
        "checkpoints": list(Checkpoint.objects.order_by("source").values_list("source", "state")),
        "rejections": sorted(RejectedRecord.objects.values_list("source", "source_key", "position", "reason")),
    }


def _extract_overlaps_load(run: EtlRun) -> bool:
    """Whether one source's extract and another's load ran at the same moment (from the SourceRuns' timings)."""
    parts = list(SourceRun.objects.filter(run=run))
    extracts = {p.source: (p.started_at, p.started_at + timedelta(seconds=p.extract_seconds)) for p in parts}
    loads = {p.source: (p.finished_at - timedelta(seconds=p.load_seconds), p.finished_at) for p in parts}
    return any(
        extract[0] < load[1] and load[0] < extract[1]
        for source, extract in extracts.items()
        for other, load in loads.items()
        if other != source
    )


@pytest.mark.django_db(transaction=True)
def test_two_workers_share_a_run_overlapping_extract_and_load_with_the_results_of_one(csv_path, start_worker, settings):
    with SourceServer(port=0, coins=200, seed=5) as server:
        rows = [f"{coin.symbol},{coin.price},1000,2025-07-01T00:00:00Z,x" for coin in server.coins[:40]]
        write_csv(csv_path, [*rows, "ETH,lots,1,2025-07-01,x"])
        env = {
            "LEGACY_CSV_PATH": str(csv_path),
            "ETL_SOURCES": "coinpaprika,coincap,legacy_csv",
            "COINPAPRIKA_BASE_URL": server.coinpaprika_url,
            "COINCAP_BASE_URL": server.coincap_url,
            "COINCAP_API_KEY": "local-key",
            "COINCAP_PAGE_SIZE": "100",
            "COINPAPRIKA_RATE_LIMIT": "0",
            "COINCAP_RATE_LIMIT": "0",
        }
        settings.ETL_SOURCES = env["ETL_SOURCES"].split(",")

        def run_with(workers: list) -> EtlRun:
            for worker in workers:
                wait_for(lambda: "ready." in worker.output(), message="the worker to be ready")  # noqa: B023
            # CoinCap's first page is slow, so with a second worker CoinPaprika's load runs during its extract.
            server.set_fault("coincap", "latency", times=1, seconds=1.5)
            run, _ = etl_run_trigger(trigger=Trigger.CLI)
            return wait_for(lambda: run_finished(run.pk), message="the run to finish")

        first = start_worker(**env)
        alone = run_with([first])
        alone_outcome, alone_overlaps = _outcome(), _extract_overlaps_load(alone)
        call_command("flush", interactive=False, verbosity=0)  # the second run starts from the same empty database
        shared = run_with([first, start_worker(**env)])
    assert alone.status == shared.status == RunStatus.SUCCEEDED
    assert _outcome() == alone_outcome
    assert alone_outcome["rejections"] and alone_outcome["checkpoints"]
    assert _extract_overlaps_load(shared) and not alone_overlaps
