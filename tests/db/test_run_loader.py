"""One loader a run: an extract ending queues it unless it is active, and no interleaving of an extract's
end with the loader's last look leaves a source extracted and never loaded."""

import threading
from unittest import mock

import pytest
from django.db import connection

from devtools.source_server import SourceServer
from etl.models import EtlRun, RunStatus, SourceRun, SourceStatus, Trigger
from etl.services import etl_run_create, etl_run_fail, load, run_normalize_and_upsert, source_extract_hand_off
from etl.services.runs import run_loader_claim
from tests.factories import write_csv

# Real commits: the claim queues its loader on commit, and the threads below each hold a connection.
pytestmark = pytest.mark.django_db(transaction=True)

SOURCES = ["coinpaprika", "legacy_csv"]  # the run's order: the API's coins first, then the symbol-only CSV


@pytest.fixture
def run(csv_path, settings):
    with SourceServer(port=0, coins=20, seed=3) as server:
        write_csv(csv_path, ["BTC,97000.5,1900000000000,2025-07-01T00:00:00Z,x", "ETH,3400,4e11,2025-07-01,x"])
        settings.ETL_SOURCES = SOURCES
        settings.COINPAPRIKA_BASE_URL = server.coinpaprika_url
        settings.COINPAPRIKA_RATE_LIMIT = 0
        run, _ = etl_run_create(trigger=Trigger.CLI)
        yield run


@pytest.fixture
def sent():
    """The loaders the claims queue, caught instead of sent to the broker."""
    with mock.patch("etl.services.runs._loader_send") as send:
        yield send


def statuses(run) -> dict[str, str]:
    return dict(SourceRun.objects.filter(run=run).values_list("source", "status"))


def test_two_extracts_ending_at_once_queue_one_loader(run, sent):
    barrier = threading.Barrier(2)
    claimed = []

    def extract_ends():
        barrier.wait()
        try:
            claimed.append(run_loader_claim(run_id=run.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=extract_ends) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == [False, True]
    assert sent.call_count == 1 and EtlRun.objects.get(pk=run.pk).loader_claimed_at is not None


def test_an_extract_ending_between_the_loaders_last_load_and_its_release_is_loaded_by_it(run, sent):
    source_extract_hand_off(run_id=run.pk, source="coinpaprika")
    assert sent.call_count == 1
    real_release = load.run_loader_release

    def csv_extract_ends_first(*, run_id):
        if statuses(run)["legacy_csv"] == SourceStatus.PENDING:
            source_extract_hand_off(run_id=run_id, source="legacy_csv")
        return real_release(run_id=run_id)

    with mock.patch.object(load, "run_loader_release", csv_extract_ends_first):
        finished = run_normalize_and_upsert(run_id=run.pk)  # the loader the first claim queued
    assert sent.call_count == 1  # the CSV's extract found the claim taken: this loader took its source
    assert finished.status == RunStatus.SUCCEEDED and finished.loader_claimed_at is None
    assert statuses(run) == {"coinpaprika": SourceStatus.SUCCEEDED, "legacy_csv": SourceStatus.SUCCEEDED}


def test_an_extract_ending_just_after_the_loader_released_queues_a_new_loader(run, sent):
    source_extract_hand_off(run_id=run.pk, source="coinpaprika")
    real_release = load.run_loader_release

    def csv_extract_ends_after(*, run_id):
        released = real_release(run_id=run_id)
        if statuses(run)["legacy_csv"] == SourceStatus.PENDING:
            source_extract_hand_off(run_id=run_id, source="legacy_csv")
        return released

    with mock.patch.object(load, "run_loader_release", csv_extract_ends_after):
        assert run_normalize_and_upsert(run_id=run.pk).status == RunStatus.RUNNING
    assert statuses(run) == {"coinpaprika": SourceStatus.SUCCEEDED, "legacy_csv": SourceStatus.EXTRACTED}
    assert sent.call_count == 2
    assert run_normalize_and_upsert(run_id=run.pk).status == RunStatus.SUCCEEDED  # the second loader


def test_a_source_extracted_out_of_order_waits_for_the_ones_before_it(run, sent):
    source_extract_hand_off(run_id=run.pk, source="legacy_csv")
    assert run_normalize_and_upsert(run_id=run.pk).status == RunStatus.RUNNING
    # Loaded before the API's coins exist, the CSV's symbols would resolve otherwise than in a serial run.
    assert statuses(run) == {"coinpaprika": SourceStatus.PENDING, "legacy_csv": SourceStatus.EXTRACTED}
    source_extract_hand_off(run_id=run.pk, source="coinpaprika")
    assert sent.call_count == 2
    assert run_normalize_and_upsert(run_id=run.pk).status == RunStatus.SUCCEEDED
    assert statuses(run) == {"coinpaprika": SourceStatus.SUCCEEDED, "legacy_csv": SourceStatus.SUCCEEDED}


def test_an_ended_runs_late_extract_queues_no_loader(run, sent):
    etl_run_fail(run_id=run.pk, error="abandoned")
    source_extract_hand_off(run_id=run.pk, source="legacy_csv")
    assert sent.call_count == 0 and statuses(run)["legacy_csv"] == SourceStatus.FAILED


def test_a_heartbeat_never_waits_for_a_load_holding_the_runs_row(run):
    """An extract beats the run's lease after each batch; while a load batch holds the run's row
    (run_active_lock), that beat is skipped, so the extract goes on beside the load."""
    from django.db import connections, transaction

    from etl.services.runs import etl_run_heartbeat, run_active_lock

    before = EtlRun.objects.get(pk=run.pk).heartbeat_at
    held, done = threading.Event(), threading.Event()

    def extract_batch_beat():
        with transaction.atomic():  # as an extract's batch beats
            etl_run_heartbeat(run_id=run.pk)

    def load_batch():
        try:
            with transaction.atomic():
                run_active_lock(run_id=run.pk)
                held.set()
                done.wait(10)
        finally:
            connections.close_all()

    loader = threading.Thread(target=load_batch)
    loader.start()
    try:
        assert held.wait(10)
        beat = threading.Thread(target=lambda: (extract_batch_beat(), connections.close_all()))
        beat.start()
        beat.join(5)
        waited = beat.is_alive()
    finally:
        done.set()
        loader.join(10)
    beat.join(10)
    if connection.vendor == "postgresql":
        assert not waited, "the heartbeat waited for the load's transaction"
        assert EtlRun.objects.get(pk=run.pk).heartbeat_at == before  # skipped: the loader beats for the run
    extract_batch_beat()
    assert EtlRun.objects.get(pk=run.pk).heartbeat_at > before
