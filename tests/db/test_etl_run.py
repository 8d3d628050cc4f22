from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import CommandError
from django.utils import timezone

from coins.models import Coin, Quote
from etl.models import Checkpoint, EtlRun, RejectedRecord, RunStatus, SourceRun, Trigger
from etl.services import etl_run_create, load, run_normalize_and_upsert, source_extract
from tests.factories import run_etl, source_run, write_csv

pytestmark = pytest.mark.django_db

ROWS = [
    "BTC,97000.12,1930177593571.2055690456826475,2024-11-21T00:00:00Z,coingecko",
    "ETH,3400.5,409000000000,2024-11-21T00:00:00Z,coingecko",
    "BTC,97100,1931000000000,2024-11-21T01:00:00Z,coingecko",
    "DOGE,0.00002466542,,2024-11-21T00:00:00Z,coingecko",
]


def csv_run(*args: str) -> SourceRun:
    """Run the ETL; the legacy CSV's part of that run."""
    return source_run(run_etl(*args), "legacy_csv")


def crash_on_second_batch():
    """The connection drops while the second batch is upserted, as when a worker or the database dies."""
    real_upsert = load.quotes_upsert
    calls = []

    def upsert(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("database went away")
        return real_upsert(**kwargs)

    return mock.patch.object(load, "quotes_upsert", upsert)


def snapshot() -> list[tuple]:
    return list(Quote.objects.order_by("id").values_list())


def test_a_run_loads_every_row_and_records_its_counts(csv_path):
    write_csv(csv_path, ROWS)
    source_run = csv_run()
    assert (source_run.status, source_run.read, source_run.inserted, source_run.rejected) == ("succeeded", 4, 4, 0)
    assert source_run.run.status == RunStatus.SUCCEEDED and source_run.run.finished_at
    btc = Quote.objects.filter(coin__symbol="BTC").order_by("as_of")
    assert [format(q.price_usd, "f") for q in btc] == ["97000.12", "97100"]
    assert Coin.objects.filter(symbol="BTC").count() == 1
    assert format(Quote.objects.get(coin__symbol="DOGE").price_usd, "f") == "0.00002466542"


def test_a_malformed_row_is_quarantined_and_the_rest_load(csv_path):
    write_csv(csv_path, [ROWS[0], "ETH,lots,1,2024-11-21,x", ROWS[1], "SOL,1,1,2024-11-21", ROWS[3]])
    source_run = csv_run()
    assert (source_run.inserted, source_run.rejected) == (3, 2)
    rejected = {r.position: r for r in RejectedRecord.objects.filter(run=source_run.run)}
    assert rejected[3].reason == "Price: not a number: 'lots'" and rejected[3].source_key == "ETH"
    assert "row has 4 fields, the header has 5" in rejected[5].reason
    assert '"lots"' in rejected[3].payload


def test_an_unchanged_rerun_writes_nothing_and_leaves_the_database_identical(csv_path):
    write_csv(csv_path, ROWS)
    run_etl()
    before = snapshot()
    incremental = csv_run()
    assert (incremental.read, incremental.inserted, incremental.updated) == (0, 0, 0)
    full = csv_run("--full")
    assert (full.read, full.inserted, full.updated, full.unchanged) == (4, 0, 0, 4)
    assert snapshot() == before


def test_a_changed_value_is_one_update(csv_path):
    write_csv(csv_path, ROWS)
    run_etl()
    write_csv(csv_path, [ROWS[0].replace("97000.12", "97000.13"), *ROWS[1:]])
    source_run = csv_run()
    assert (source_run.read, source_run.inserted, source_run.updated, source_run.unchanged) == (4, 0, 1, 3)
    assert format(Quote.objects.get(coin__symbol="BTC", as_of__hour=0).price_usd, "f") == "97000.13"


def test_an_appended_file_loads_only_the_new_rows(csv_path):
    write_csv(csv_path, ROWS[:2])
    run_etl()
    write_csv(csv_path, ROWS[2:], mode="a")
    source_run = csv_run()
    assert (source_run.read, source_run.inserted) == (2, 2)
    assert Quote.objects.count() == 4


def test_the_same_key_twice_in_a_batch_keeps_the_later_row(csv_path):
    write_csv(csv_path, [ROWS[0], ROWS[0].replace("97000.12", "96999")])
    source_run = csv_run()
    assert (source_run.inserted, source_run.rejected) == (1, 1)
    assert format(Quote.objects.get().price_usd, "f") == "96999"
    assert "superseded by the record at position 3" in RejectedRecord.objects.get().reason


def test_a_file_without_the_required_columns_fails_the_run_and_exits_non_zero(csv_path):
    write_csv(csv_path, ["BTC,1"], header="Ticker,MarketCap")
    with pytest.raises(CommandError, match="failed") as failure:
        run_etl()
    assert failure.value.returncode == 1
    source_run = SourceRun.objects.get()
    assert source_run.status == "failed" and "lacks required columns: price_usd" in source_run.error
    assert source_run.run.status == RunStatus.FAILED
    assert not Checkpoint.objects.exists()


def test_an_unknown_source_is_refused(csv_path):
    with pytest.raises(CommandError, match=r"unknown source.*known sources: coinpaprika, coincap, legacy_csv"):
        run_etl("--source", "nope")


def test_only_one_run_is_active_at_a_time(csv_path):
    first, created = etl_run_create(trigger=Trigger.CLI)
    second, created_again = etl_run_create(trigger=Trigger.API)
    assert created and not created_again and second.pk == first.pk
    with pytest.raises(CommandError, match=f"run {first.pk} is already queued"):
        run_etl()


def test_a_run_whose_heartbeat_stopped_is_taken_over(csv_path, settings):
    stuck, _ = etl_run_create(trigger=Trigger.CLI)
    EtlRun.objects.filter(pk=stuck.pk).update(
        status=RunStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(seconds=settings.ETL_RUN_LEASE_SECONDS + 1)
    )
    fresh, created = etl_run_create(trigger=Trigger.CLI)
    stuck.refresh_from_db()
    assert created and fresh.pk != stuck.pk
    assert stuck.status == RunStatus.FAILED and "abandoned" in stuck.error


def test_a_crash_mid_load_keeps_the_checkpoint_and_the_next_run_completes_without_duplicates(csv_path, settings):
    settings.ETL_BATCH_SIZE = 2
    write_csv(csv_path, ROWS)
    with crash_on_second_batch(), pytest.raises(ConnectionError):
        run_etl()
    assert EtlRun.objects.get().status == RunStatus.FAILED
    assert Quote.objects.count() == 2  # the first batch was committed
    assert not Checkpoint.objects.exists()  # ...but the checkpoint did not move

    source_run = csv_run()
    assert (source_run.read, source_run.inserted, source_run.unchanged) == (4, 2, 2)
    assert Quote.objects.count() == 4
    assert Checkpoint.objects.get().state["offset"] == csv_path.stat().st_size


def test_a_load_interrupted_part_way_resumes_after_its_last_committed_batch(csv_path, settings):
    settings.ETL_BATCH_SIZE = 2
    write_csv(csv_path, ROWS)
    run, _ = etl_run_create(trigger=Trigger.CLI)
    source_extract(run_id=run.pk, source="legacy_csv")
    with crash_on_second_batch(), pytest.raises(ConnectionError):
        run_normalize_and_upsert(run_id=run.pk)
    run = run_normalize_and_upsert(run_id=run.pk)  # the task's retry
    source_run = SourceRun.objects.get(run=run)
    assert run.status == RunStatus.SUCCEEDED
    assert (source_run.read, source_run.inserted, source_run.updated, source_run.unchanged) == (4, 4, 0, 0)
    assert Quote.objects.count() == 4


def test_extract_and_load_are_idempotent_per_run(csv_path):
    write_csv(csv_path, ROWS)
    run, _ = etl_run_create(trigger=Trigger.CLI)
    source_extract(run_id=run.pk, source="legacy_csv")
    source_extract(run_id=run.pk, source="legacy_csv")
    run_normalize_and_upsert(run_id=run.pk)
    run_normalize_and_upsert(run_id=run.pk)
    source_run = SourceRun.objects.get(run=run)
    assert (source_run.read, source_run.inserted, source_run.unchanged) == (4, 4, 0)
    assert run.raw_records.count() == 4


def test_an_abandoned_runs_late_worker_writes_nothing(csv_path, settings):
    write_csv(csv_path, ROWS)
    stale, _ = etl_run_create(trigger=Trigger.CLI)
    source_extract(run_id=stale.pk, source="legacy_csv")
    EtlRun.objects.filter(pk=stale.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    fresh, created = etl_run_create(trigger=Trigger.CLI)  # declares the stale run abandoned
    assert created
    run_normalize_and_upsert(run_id=stale.pk)  # its worker wakes up late
    assert not Quote.objects.exists() and not Checkpoint.objects.exists()
    assert EtlRun.objects.get(pk=stale.pk).status == RunStatus.FAILED
    source_extract(run_id=fresh.pk, source="legacy_csv")
    assert run_normalize_and_upsert(run_id=fresh.pk).status == RunStatus.SUCCEEDED and Quote.objects.count() == 4
