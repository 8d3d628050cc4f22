"""The Celery pipeline end to end, with real worker processes on the test database and broker."""

import threading
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django_celery_beat.models import PeriodicTask
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from coins.models import Quote
from etl.models import EtlRun, RunStatus, SourceRun, Trigger
from etl.schedule import SCHEDULED_TASK, SCHEDULED_TASK_NAME
from etl.tasks import scheduled_run_task
from tests.factories import write_csv
from tests.worker import wait_for

CSV_ROWS = [f"C{i},{i + 1}.5,{i * 1000},2024-11-21T00:00:00Z,x" for i in range(300)]


def staff_client(username: str = "ops") -> APIClient:
    client = APIClient()
    client.force_authenticate(User.objects.create_user(username, is_staff=True))
    return client


def run_finished(run_id: int):
    run = EtlRun.objects.get(pk=run_id)
    return run if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING) else None


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
    start_worker(LEGACY_CSV_PATH=str(csv_path), ETL_SOURCES="coinpaprika,legacy_csv",
                 COINPAPRIKA_BASE_URL="http://127.0.0.1:9/v1", SOURCE_MAX_RETRIES="1",
                 SOURCE_BACKOFF_SECONDS="0.01", COINPAPRIKA_RATE_LIMIT="0")
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
    env = {"LEGACY_CSV_PATH": str(csv_path), "ETL_SOURCES": "legacy_csv", "ETL_BATCH_SIZE": "100",
           "ETL_RUN_LEASE_SECONDS": "2"}
    first_worker = start_worker(**env)
    body = staff_client().post("/run-etl", {}, format="json").json()
    wait_for(lambda: (SourceRun.objects.get(run_id=body["run_id"]).load_cursor or 0) > 0,
             interval=0.02, message="the load to start")
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


def _trigger(client: APIClient) -> int | None:
    response = client.post("/run-etl", {}, format="json")
    return response.json()["run_id"] if response.status_code == 202 else None


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


@pytest.mark.django_db
def test_triggering_needs_a_staff_user(api_client, celery_queue):
    assert api_client.post("/run-etl", {}, format="json").status_code == 401
    api_client.force_authenticate(User.objects.create_user("viewer"))
    assert api_client.post("/run-etl", {}, format="json").status_code == 403
    assert not EtlRun.objects.exists()


@pytest.mark.django_db
def test_a_drf_token_authenticates_the_trigger(celery_queue):
    user = User.objects.create_user("robot", is_staff=True)
    call_command("drf_create_token", "robot", stdout=mock.MagicMock())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=user).key}")
    assert client.post("/run-etl", {}, format="json").status_code == 202
    assert APIClient().post("/run-etl", {}, format="json", HTTP_AUTHORIZATION="Token wrong").status_code == 401


@pytest.mark.django_db
def test_an_unknown_source_is_a_400_listing_the_known_ones(celery_queue):
    response = staff_client().post("/run-etl", {"sources": ["binance"]}, format="json")
    assert response.status_code == 400
    assert "known sources: coinpaprika, coincap, legacy_csv" in response.json()["sources"][0].lower()


@pytest.mark.django_db
def test_triggers_are_throttled(celery_queue):
    client = staff_client()
    with mock.patch.object(ScopedRateThrottle, "THROTTLE_RATES", {"run_etl": "2/minute"}):
        codes = [client.post("/run-etl", {}, format="json").status_code for _ in range(3)]
    assert codes == [202, 409, 429]


@pytest.mark.django_db
def test_the_schedule_exists_once_however_often_it_is_set_up():
    call_command("setup_schedule", stdout=mock.MagicMock())
    call_command("setup_schedule", stdout=mock.MagicMock())
    task = PeriodicTask.objects.get(name=SCHEDULED_TASK_NAME)
    assert PeriodicTask.objects.filter(task=SCHEDULED_TASK).count() == 1
    assert (task.crontab.minute, task.crontab.hour, task.enabled) == ("0", "*", True)
    assert PeriodicTask.objects.get(task="etl.tasks.raw_records_prune_task").crontab.hour == "3"


@pytest.mark.django_db
def test_an_admin_edit_of_the_schedule_survives_setup_until_reset(settings):
    call_command("setup_schedule", stdout=mock.MagicMock())
    task = PeriodicTask.objects.get(name=SCHEDULED_TASK_NAME)
    task.crontab.minute = "30"
    task.crontab.save()
    task.enabled = False
    task.save()
    call_command("setup_schedule", stdout=mock.MagicMock())
    task.refresh_from_db()
    assert (task.crontab.minute, task.enabled) == ("30", False)
    settings.ETL_SCHEDULE_CRONTAB = "15 */2 * * *"
    call_command("setup_schedule", "--reset", stdout=mock.MagicMock())
    task.refresh_from_db()
    assert (task.crontab.minute, task.crontab.hour, task.enabled) == ("15", "*/2", False)


@pytest.mark.django_db
def test_the_scheduled_task_starts_a_run_or_skips_while_one_is_active(celery_queue):
    scheduled_run_task()
    scheduled_run_task()
    run = EtlRun.objects.get()
    assert run.trigger == Trigger.SCHEDULE and run.status == RunStatus.QUEUED


@pytest.mark.django_db(transaction=True)  # the chain is sent when the run commits
def test_a_broker_that_refuses_the_run_is_a_503_and_the_run_does_not_block_the_next(celery_queue):
    client = staff_client()
    with mock.patch("etl.services.runs.chain") as chain:
        chain.return_value.apply_async.side_effect = ConnectionError("Error 111 connecting to redis")
        response = client.post("/run-etl", {}, format="json")
    assert response.status_code == 503 and "broker did not take the run" in response.json()["detail"]
    assert EtlRun.objects.get().status == RunStatus.FAILED
    with mock.patch("etl.services.runs.chain"):
        assert client.post("/run-etl", {}, format="json").status_code == 202


def broker_down():
    """The broker refuses the chain, as when Redis is down."""
    refused = mock.patch("etl.services.runs.chain")
    chain = refused.start()
    chain.return_value.apply_async.side_effect = ConnectionError("Error 111 connecting to 127.0.0.1:6379")
    return refused


@pytest.mark.django_db(transaction=True)
def test_the_admin_button_says_the_broker_is_down_instead_of_a_500(client, celery_queue):
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    refused = broker_down()
    try:
        response = client.post("/admin/etl/etlrun/run-now/", follow=True)
    finally:
        refused.stop()
    assert response.status_code == 200
    assert "Could not queue a run" in " ".join(str(m) for m in response.context["messages"])
    assert EtlRun.objects.get().status == RunStatus.FAILED


@pytest.mark.django_db(transaction=True)
def test_run_etl_queue_says_the_broker_is_down_and_exits_non_zero(celery_queue):
    refused = broker_down()
    try:
        with pytest.raises(CommandError, match="could not queue the run: the broker did not take the run") as failed:
            call_command("run_etl", "--queue", stdout=mock.MagicMock())
    finally:
        refused.stop()
    assert failed.value.returncode == 1
    assert EtlRun.objects.get().status == RunStatus.FAILED
