from unittest import mock

import pytest
from django.db import connection
from django.db.utils import OperationalError

from core import health
from etl.models import RunStatus
from etl.services import etl_run_create

pytestmark = pytest.mark.django_db


def test_ready_with_a_fresh_successful_run(api_client, csv_path):
    from django.core.management import call_command

    from tests.factories import write_csv

    write_csv(csv_path, ["BTC,1,1,2024-01-01,x"])
    call_command("run_etl", stdout=mock.MagicMock())
    response = api_client.get("/health")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok" and body["failing"] == []
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]
    assert body["etl"]["last_run"]["status"] == RunStatus.SUCCEEDED
    assert 0 <= body["etl"]["last_run"]["age_seconds"] < 60


def test_the_broker_in_use_is_the_one_checked(api_client, settings):
    transport = api_client.get("/health").json()["checks"]["broker"]["transport"]
    expected = "redis" if settings.CELERY_BROKER_URL.startswith("redis") else "filesystem"
    assert transport == expected


def test_no_successful_run_yet_is_degraded_but_ready(api_client):
    etl_run_create(trigger="cli")
    response = api_client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded" and response.json()["etl"]["stale"] is True


def test_an_unreachable_broker_is_a_503_naming_it(api_client, settings):
    # The broker the settings name is checked; here it refuses, as a stopped Redis does.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = api_client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["failing"] == ["broker"]
    assert "Connection refused" in body["checks"]["broker"]["error"]


def test_a_real_unreachable_redis_broker_fails_the_check():
    check = health.broker_check(url="redis://127.0.0.1:1/0")
    assert check["ok"] is False and "refused" in check["error"].lower()


def test_an_unreachable_database_is_a_503_naming_it(api_client):
    with mock.patch.object(health, "connection") as conn:
        conn.cursor.side_effect = OperationalError("could not connect to server")
        response = api_client.get("/health")
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"], response.json()
    assert response.json()["etl"] is None


def test_a_partial_run_keeps_the_data_fresh_and_names_each_sources_age(api_client, csv_path, settings):
    from django.core.management import CommandError, call_command

    from tests.factories import write_csv

    write_csv(csv_path, ["BTC,1,1,2024-01-01,x"])
    settings.ETL_SOURCES = ["coinpaprika", "legacy_csv"]
    settings.COINPAPRIKA_BASE_URL = "http://127.0.0.1:9/v1"
    settings.SOURCE_MAX_RETRIES = 0
    with pytest.raises(CommandError):  # partial: exit 2
        call_command("run_etl", stdout=mock.MagicMock())
    body = api_client.get("/health").json()
    assert body["status"] == "ok" and body["etl"]["last_run"]["status"] == RunStatus.PARTIAL
    assert list(body["etl"]["source_last_loaded_age_seconds"]) == ["legacy_csv"]


def test_an_unmigrated_database_is_a_503_saying_so(api_client):
    # What a fresh database looks like to the pipeline's reads: no etl tables, no etl migrations recorded.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE etl_etlrun RENAME TO etl_etlrun_hidden")
        cursor.execute("DELETE FROM django_migrations WHERE app = 'etl'")
    response = api_client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["failing"] == ["database"]
    assert body["checks"]["database"] == {"ok": False, "error": "not migrated"} and body["etl"] is None


def test_a_failing_read_of_a_migrated_database_is_a_503_naming_the_error(api_client):
    with mock.patch("etl.selectors.sources_last_loaded", side_effect=OperationalError("server closed the connection")):
        response = api_client.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["error"] == "OperationalError: server closed the connection"


def test_a_report_that_raises_is_a_503_naming_it(api_client):
    with mock.patch("etl.selectors.sources_last_loaded", side_effect=KeyError("coincap")):
        response = api_client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["etl"] and body["checks"]["etl"] == {"ok": False, "error": "KeyError: 'coincap'"}
