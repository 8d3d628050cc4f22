"""Triggering runs: the API (staff, tokens, throttling, bad sources), the schedule, and a broker that is down."""

from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from etl.models import EtlRun, RunStatus, Trigger
from etl.schedule import SCHEDULED_TASK, SCHEDULED_TASK_NAME
from etl.tasks import scheduled_run_task
from tests.factories import staff_client


def broker_down():
    """The broker refuses the run's extracts, as when Redis is down."""
    refused = mock.patch("etl.services.runs.group")
    chain = refused.start()
    chain.return_value.apply_async.side_effect = ConnectionError("Error 111 connecting to 127.0.0.1:6379")
    return refused


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


@pytest.mark.django_db(transaction=True)  # the extracts are sent when the run commits
def test_a_broker_that_refuses_the_run_is_a_503_and_the_run_does_not_block_the_next(celery_queue):
    client = staff_client()
    with mock.patch("etl.services.runs.group") as chain:
        chain.return_value.apply_async.side_effect = ConnectionError("Error 111 connecting to redis")
        response = client.post("/run-etl", {}, format="json")
    assert response.status_code == 503 and "broker did not take the run" in response.json()["detail"]
    assert EtlRun.objects.get().status == RunStatus.FAILED
    with mock.patch("etl.services.runs.group"):
        assert client.post("/run-etl", {}, format="json").status_code == 202


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
