"""Reading the pipeline: /runs, /runs/{id}, /stats, replay and the admin's run-now button."""

from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from coins.models import Quote, SourceListing
from etl.models import EtlRun, RejectedRecord, RunStatus, SourceRun, Trigger
from etl.services import raw_records_prune
from tests.factories import run_etl, write_csv

pytestmark = pytest.mark.django_db
ROWS = ["BTC,97000.12,1,2024-11-21T00:00:00Z,x", "ETH,3400.5,1,2024-11-21T00:00:00Z,x", "BAD,abc,1,2024-11-21,x"]


def test_runs_list_newest_first_with_filters(api_client, csv_path):
    write_csv(csv_path, ROWS)
    run_etl(check=False)
    write_csv(csv_path, ["x"], header="Nothing")
    run_etl("--full", check=False)
    body = api_client.get("/runs").json()
    assert [r["status"] for r in body["results"]] == [RunStatus.FAILED, RunStatus.SUCCEEDED]
    assert body["results"][0]["url"].endswith(f"/runs/{body['results'][0]['id']}")
    assert [r["status"] for r in api_client.get("/runs?status=failed").json()["results"]] == ["failed"]
    assert api_client.get("/runs?trigger=api").json()["results"] == []
    assert "status" in api_client.get("/runs?status=exploded").json()


def test_runs_paginate_with_a_cursor(api_client):
    EtlRun.objects.bulk_create(EtlRun(trigger=Trigger.CLI, sources=[], status=RunStatus.SUCCEEDED) for _ in range(7))
    first = api_client.get("/runs?page_size=5").json()
    second = api_client.get(first["next"]).json()
    ids = [r["id"] for r in first["results"] + second["results"]]
    assert len(ids) == 7 and ids == sorted(ids, reverse=True) and second["next"] is None


def test_a_run_shows_each_source_with_counts_timings_and_checkpoints(api_client, csv_path):
    write_csv(csv_path, ROWS)
    run_etl(check=False)
    run = EtlRun.objects.get()
    body = api_client.get(f"/runs/{run.pk}").json()
    (source,) = body["source_runs"]
    assert (source["source"], source["status"], source["read"], source["inserted"], source["rejected"]) == (
        "legacy_csv",
        "succeeded",
        3,
        2,
        1,
    )
    assert source["checkpoint_before"] == {} and source["checkpoint_after"]["offset"] == csv_path.stat().st_size
    assert source["extract_seconds"] >= 0 and source["duration_seconds"] >= 0
    assert api_client.get("/runs/999999").status_code == 404


def test_stats_per_source_and_totals(api_client, csv_path):
    write_csv(csv_path, ROWS)
    run_etl(check=False)
    write_csv(csv_path, ["x"], header="Nothing")
    run_etl(check=False)
    stats = api_client.get("/stats").json()
    csv = stats["sources"]["legacy_csv"]
    assert csv["last_run"]["status"] == "failed" and "lacks required columns" in csv["last_failure"]["error"]
    assert csv["last_success"]["read"] == 3
    assert csv["records_last_24h"] == 3 and csv["success_rate"] == 0.5
    durations = sorted(r.duration_seconds for r in SourceRun.objects.filter(source="legacy_csv"))
    assert csv["duration_p95_seconds"] == round(durations[-1], 3)  # nearest rank: the slower of two
    assert csv["duration_mean_seconds"] == round(sum(durations) / 2, 3)
    assert stats["sources"]["coincap"]["last_run"] is None
    assert stats["totals"]["runs"] == {"total": 2, "succeeded": 1, "partial": 0, "failed": 1, "active": 0}
    assert (stats["totals"]["quotes"], stats["totals"]["rejected_records"]) == (2, 1)


def test_replay_renormalizes_kept_raw_records_without_calling_the_source(csv_path):
    write_csv(csv_path, ROWS)
    run_etl(check=False)
    original = EtlRun.objects.get()
    Quote.objects.all().delete()
    csv_path.unlink()  # the source is gone: a replay must not need it
    run_etl("--replay", str(original.pk), check=False)
    replay = EtlRun.objects.latest("id")
    source_run = SourceRun.objects.get(run=replay)
    assert replay.status == RunStatus.SUCCEEDED and replay.replay_of_id == original.pk
    assert (source_run.read, source_run.inserted, source_run.rejected) == (3, 2, 1)
    assert Quote.objects.count() == 2 and RejectedRecord.objects.filter(run=replay).count() == 1


def test_replaying_a_run_with_nothing_kept_is_refused(csv_path):
    with pytest.raises(CommandError, match="kept no raw records"):
        call_command("run_etl", "--replay", "12345", stdout=mock.MagicMock())


def test_the_admin_run_now_button_queues_a_run(client, celery_queue):
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    page = client.get("/admin/etl/etlrun/")
    assert b"Run ETL now" in page.content
    response = client.post("/admin/etl/etlrun/run-now/")
    run = EtlRun.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/admin/etl/etlrun/{run.pk}/change/")
    assert (run.trigger, run.requested_by) == (Trigger.ADMIN, "admin")
    client.post("/admin/etl/etlrun/run-now/")
    assert EtlRun.objects.count() == 1


def test_every_admin_page_renders(client, csv_path):
    write_csv(csv_path, ROWS)
    run_etl(check=False)
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    for model in (
        "coins/coin",
        "coins/sourcelisting",
        "coins/quote",
        "etl/etlrun",
        "etl/sourcerun",
        "etl/checkpoint",
        "etl/rawrecord",
        "etl/rejectedrecord",
        "django_celery_beat/periodictask",
    ):
        assert client.get(f"/admin/{model}/").status_code == 200, model
    run = EtlRun.objects.get()
    assert client.get(f"/admin/etl/etlrun/{run.pk}/change/").status_code == 200
    listing = SourceListing.objects.first()
    assert client.get(f"/admin/coins/sourcelisting/{listing.pk}/change/").status_code == 200


def test_raw_records_of_old_finished_runs_are_pruned(csv_path):
    write_csv(csv_path, ROWS)
    run_etl(check=False)
    old = EtlRun.objects.get()
    write_csv(csv_path, ROWS[:1])
    run_etl(check=False)
    EtlRun.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    assert raw_records_prune(older_than_days=14, batch_size=2) == 3
    assert not old.raw_records.exists() and EtlRun.objects.latest("id").raw_records.count() == 1
    assert Quote.objects.count() == 2  # quotes stay; only the replay material goes


@pytest.mark.parametrize(("query", "parameter"), [("status=done", "status"), ("trigger=cron", "trigger")])
def test_a_bad_runs_filter_is_a_400_listing_the_choices(api_client, query, parameter):
    response = api_client.get(f"/runs?{query}")
    assert response.status_code == 400
    (message,) = response.json()[parameter]
    assert "use one of:" in message and ("succeeded" in message or "schedule" in message)
