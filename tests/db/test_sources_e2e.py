"""All three sources end to end against the local source server, faults included."""

import time
from dataclasses import replace
from unittest import mock

import pytest
from django.db import connection

from coins.models import Coin, MatchRule, Quote, SourceListing
from devtools.source_server import SourceServer
from etl.models import RejectedRecord, RunStatus, SourceRun, Trigger
from etl.services import etl_run_create, listing_repoint, run_normalize_and_upsert, source_extract
from etl.sources import coinpaprika, registry
from tests.factories import make_coin, run_etl, source_run, write_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def server():
    with SourceServer(port=0, coins=300, seed=11) as running:
        yield running


@pytest.fixture
def sources(server, csv_path, settings):
    """Every source pointed at the local server and a small legacy CSV; fast retries."""
    write_csv(csv_path, ["BTC,97000.5,1900000000000,2025-07-01T00:00:00Z,x", "ETH,3400,400000000000,2025-07-01,x"])
    settings.ETL_SOURCES = ["coinpaprika", "coincap", "legacy_csv"]
    settings.COINPAPRIKA_BASE_URL = server.coinpaprika_url
    settings.COINCAP_BASE_URL = server.coincap_url
    settings.COINCAP_API_KEY = "local-key"
    settings.COINCAP_PAGE_SIZE = 100
    settings.COINPAPRIKA_RATE_LIMIT = settings.COINCAP_RATE_LIMIT = 0
    settings.SOURCE_BACKOFF_SECONDS = 0.01
    settings.SOURCE_READ_TIMEOUT = 1.5  # under the timeout fault's 5 s, above a loaded machine's pauses
    settings.SOURCE_MAX_RETRIES = 3
    return server


def test_all_three_sources_load_and_btc_is_one_coin_with_three_listings(sources, api_client):
    run = run_etl(check=False)
    assert run.status == RunStatus.SUCCEEDED
    assert source_run(run, "coinpaprika").inserted == 300
    # Three full pages of 100, then the empty page that ends the walk.
    assert source_run(run, "coincap").inserted == 300 and source_run(run, "coincap").http_requests == 4
    assert source_run(run, "legacy_csv").inserted == 2
    (btc,) = api_client.get("/coins?symbol=BTC").json()["results"]
    assert btc["slug"] == "bitcoin"
    assert sorted(listing["source"] for listing in btc["listings"]) == ["coincap", "coinpaprika", "legacy_csv"]
    assert len(btc["latest_quotes"]) == 3


def test_colliding_symbols_stay_separate_coins(sources):
    run_etl(check=False)
    universe = {}
    for coin in sources.coins:
        universe.setdefault(coin.symbol, set()).add(coin.name)
    shared = {symbol: names for symbol, names in universe.items() if len(names) > 1}
    assert shared, "the generated universe has colliding symbols"
    for symbol, names in shared.items():
        assert Coin.objects.filter(symbol=symbol, provisional=False).count() == len(names), symbol


def test_an_unchanged_rerun_writes_no_quotes(sources):
    run_etl(check=False)
    before = list(Quote.objects.order_by("id").values_list())
    again = run_etl("--full", check=False)
    for name in ("coinpaprika", "coincap", "legacy_csv"):
        assert (source_run(again, name).inserted, source_run(again, name).updated) == (0, 0), name
    assert list(Quote.objects.order_by("id").values_list()) == before


def test_an_incremental_rerun_skips_items_sent_exactly_as_last_loaded(sources):
    run_etl(check=False)
    validate = mock.Mock(wraps=coinpaprika.to_quote)
    spied = tuple(replace(s, to_quote=validate) if s.name == "coinpaprika" else s for s in registry.SOURCES)
    with mock.patch.object(registry, "SOURCES", spied):
        again = run_etl("--source", "coinpaprika", check=False)
    paprika = source_run(again, "coinpaprika")
    assert (paprika.read, paprika.unchanged, paprika.inserted, paprika.updated) == (300, 300, 0, 0)
    assert validate.call_count == 0  # not validated, resolved or upserted again


def test_changed_prices_are_updates_and_a_new_timestamp_is_new_rows(sources):
    run_etl(check=False)
    sources.change_prices(fraction=0.1, seed=3)
    changed = run_etl("--source", "coinpaprika", check=False)
    assert source_run(changed, "coinpaprika").updated == 30
    assert source_run(changed, "coinpaprika").inserted == 0
    sources.tick(minutes=60)
    later = run_etl("--source", "coincap", check=False)
    assert source_run(later, "coincap").inserted == 300


@pytest.mark.parametrize(
    ("fault", "params", "retries", "throttled"),
    [
        ("status", {"code": 500, "times": 2}, 2, 0),
        ("status", {"code": 503, "times": 1}, 1, 0),
        ("status", {"code": 429, "retry_after": 1, "times": 1}, 1, 1),
        ("timeout", {"seconds": 5, "times": 1}, 1, 0),
        ("truncate", {"times": 1}, 1, 0),
        ("not_json", {"times": 2}, 2, 0),
        ("latency", {"seconds": 0.2}, 0, 0),
    ],
)
def test_transient_faults_are_retried_and_the_source_loads(sources, fault, params, retries, throttled):
    sources.set_fault("coincap", fault, **params)
    started = time.monotonic()
    run = run_etl("--source", "coincap", check=False)
    coincap = source_run(run, "coincap")
    assert (run.status, coincap.inserted) == (RunStatus.SUCCEEDED, 300), coincap.error
    assert (coincap.http_retries, coincap.http_throttled) == (retries, throttled)
    if fault == "status" and params["code"] == 429:
        assert time.monotonic() - started >= 1  # Retry-After honoured


def test_a_source_that_keeps_failing_is_recorded_and_the_others_load(sources):
    sources.set_fault("coinpaprika", "status", code=502)
    run = run_etl(check=False)
    paprika = source_run(run, "coinpaprika")
    assert run.status == RunStatus.PARTIAL
    assert paprika.status == "failed" and paprika.error.startswith("HTTP 502 after 4 attempts: ")
    assert run.error.startswith("coinpaprika: HTTP 502 after 4 attempts: ")  # the source named once
    assert paprika.http_requests == 4 and not run.raw_records.filter(source="coinpaprika").exists()
    assert source_run(run, "coincap").inserted == 300 and source_run(run, "legacy_csv").inserted == 2


def test_a_failed_source_loses_nothing_already_stored(sources):
    run_etl(check=False)
    stored = Quote.objects.filter(source="coinpaprika").count()
    sources.set_fault("coinpaprika", "not_json")
    run = run_etl(check=False)
    assert "not JSON" in source_run(run, "coinpaprika").error
    assert Quote.objects.filter(source="coinpaprika").count() == stored


def test_a_renamed_field_quarantines_every_record_and_fails_the_source(sources):
    sources.set_fault("coincap", "rename_field", field="priceUsd", to="price_usd")
    run = run_etl(check=False)
    coincap = source_run(run, "coincap")
    assert run.status == RunStatus.PARTIAL
    assert coincap.status == "failed" and "every record was rejected" in coincap.error
    assert "data.priceUsd: Field required" in coincap.error
    assert RejectedRecord.objects.filter(run=run, source="coincap").count() == 300


def test_the_retired_v2_api_fails_the_source_with_its_message(sources, settings):
    settings.COINCAP_BASE_URL = sources.coincap_url.replace("/v3", "/v2")
    run = run_etl("--source", "coincap", check=False)
    assert "We are deprecating this version" in source_run(run, "coincap").error


def test_a_manual_repoint_survives_the_next_run(sources):
    run_etl(check=False)
    listing = SourceListing.objects.get(source="coincap", source_id="ethereum")
    ethereum = listing.coin
    other = make_coin("ETH", "Ether (manual)", "ether-manual")
    listing_repoint(listing=listing, coin=other)
    sources.tick(minutes=60)
    run_etl("--source", "coincap", check=False)
    listing.refresh_from_db()
    assert (listing.coin_id, listing.match_rule) == (other.pk, MatchRule.MANUAL)
    assert Quote.objects.filter(coin=other, source="coincap", as_of=sources.as_of).exists()
    assert not Quote.objects.filter(coin=ethereum, source="coincap", as_of=sources.as_of).exists()


def test_loading_thousands_of_coins_takes_a_bounded_number_of_queries(settings, django_assert_max_num_queries):
    with SourceServer(port=0, coins=3000, seed=5) as big:
        settings.COINPAPRIKA_BASE_URL = big.coinpaprika_url
        settings.COINPAPRIKA_RATE_LIMIT = 0
        run, _ = etl_run_create(trigger=Trigger.CLI, sources=["coinpaprika"])
        source_extract(run_id=run.pk, source="coinpaprika")
    # Two batches of 2000: a handful of queries each, however many coins (Django splits SQLite's inserts into
    # statements of 999 parameters, so it takes more there), the price checks: four per chunk of 900 coins
    # (four chunks here, what bounds their memory) and one to cut the chunks, then the consensus:
    # a constant dozen (the run's ranges of moments, a temporary table of the touched intervals, three writes
    # from it), and the candles: a
    # constant ten (temporary tables of the touched days and of their quotes, the days' write, the planner's
    # joins turned off and back around it, the tables dropped), and the loader's
    # last look under the run's row, a constant handful.
    with django_assert_max_num_queries(90 if connection.vendor == "postgresql" else 172):
        run_normalize_and_upsert(run_id=run.pk)
    assert SourceRun.objects.get(run=run).inserted == 3000


def test_a_body_over_the_limit_fails_its_source_with_the_reason_and_the_others_load(sources, settings):
    settings.SOURCE_MAX_BODY_BYTES = 2**20
    sources.set_fault("coinpaprika", "oversize", megabytes=50)
    run = run_etl(check=False)
    paprika = source_run(run, "coinpaprika")
    assert paprika.status == "failed" and paprika.http_requests == 1  # the same body next time: not retried
    assert "declares 52,428,800 bytes, over the limit of 1,048,576 (SOURCE_MAX_BODY_BYTES)" in paprika.error
    assert source_run(run, "coincap").inserted == 300 and source_run(run, "legacy_csv").inserted == 2


def test_an_api_that_suddenly_lists_nothing_fails_instead_of_succeeding_empty(sources):
    first = run_etl(check=False)
    assert source_run(first, "coincap").read == 300
    sources.set_fault("coincap", "empty")
    second = run_etl(check=False)
    coincap = source_run(second, "coincap")
    assert coincap.status == "failed"
    assert coincap.error == f"the source listed no items, where run {first.id} read 300; nothing was loaded"
    assert source_run(second, "coinpaprika").status == "succeeded"
