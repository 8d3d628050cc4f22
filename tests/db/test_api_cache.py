"""Cached GET pages: served again without touching the database, and never older than the last committed batch."""

from unittest import mock

import pytest

from coins.models import SourceListing
from etl.services import listing_repoint
from tests.factories import make_coin, run_etl, write_csv

pytestmark = pytest.mark.django_db(transaction=True)  # the invalidation fires on commit


def test_a_repeated_page_comes_from_the_cache_with_its_own_request_meta(
    api_client, csv_path, django_assert_num_queries
):
    write_csv(csv_path, ["BTC,97000,1,2024-11-21T00:00:00Z,x", "ETH,3400,1,2024-11-21T00:00:00Z,x"])
    run_etl()
    first = api_client.get("/data?page_size=1")
    with django_assert_num_queries(0):
        second = api_client.get("/data?page_size=1")
    assert (first["X-Cache"], second["X-Cache"]) == ("miss", "hit")
    assert first.json()["results"] == second.json()["results"] and first.json()["next"] == second.json()["next"]
    assert first.json()["meta"]["request_id"] != second.json()["meta"]["request_id"]


def test_a_committed_run_invalidates_cached_pages(api_client, csv_path):
    write_csv(csv_path, ["BTC,97000,1,2024-11-21T00:00:00Z,x"])
    run_etl()
    assert len(api_client.get("/data").json()["results"]) == 1
    assert api_client.get("/coins?symbol=ETH").json()["results"] == []
    write_csv(csv_path, ["ETH,3400,1,2024-11-21T00:00:00Z,x"], mode="a")
    run_etl()
    assert len(api_client.get("/data").json()["results"]) == 2
    assert [c["symbol"] for c in api_client.get("/coins?symbol=ETH").json()["results"]] == ["ETH"]


def test_a_rerun_that_writes_nothing_keeps_the_cache(api_client, csv_path):
    write_csv(csv_path, ["BTC,97000,1,2024-11-21T00:00:00Z,x"])
    run_etl()
    api_client.get("/data")
    run_etl("--full")  # every row unchanged
    assert api_client.get("/data")["X-Cache"] == "hit"


def test_a_repointed_listing_invalidates_cached_pages(api_client, csv_path):
    write_csv(csv_path, ["BTC,97000,1,2024-11-21T00:00:00Z,x"])
    run_etl()
    other = make_coin("BTC", "Other", "other")
    assert api_client.get("/coins/other").json()["listings"] == []
    listing_repoint(listing=SourceListing.objects.get(), coin=other)
    response = api_client.get("/coins/other")
    assert response["X-Cache"] == "miss" and [x["source"] for x in response.json()["listings"]] == ["legacy_csv"]


def test_errors_are_not_cached_and_the_cache_can_be_turned_off(api_client, settings):
    for _ in range(2):
        response = api_client.get("/data?page_size=0")
        assert response.status_code == 400 and "X-Cache" not in response
    settings.API_CACHE_SECONDS = 0
    api_client.get("/data")
    assert "X-Cache" not in api_client.get("/data")


def test_an_unreachable_cache_serves_from_the_database(api_client, csv_path):
    write_csv(csv_path, ["BTC,97000,1,2024-11-21T00:00:00Z,x"])
    run_etl()
    with mock.patch("coins.caching.cache") as broken:
        broken.get_or_set.side_effect = ConnectionError("Error 111 connecting to redis")
        response = api_client.get("/data")
    assert response.status_code == 200 and len(response.json()["results"]) == 1


def test_a_lost_version_key_never_brings_back_an_old_page(api_client, csv_path):
    from django.core.cache import cache

    from coins.caching import DATA_VERSION_KEY

    write_csv(csv_path, ["BTC,97000,1,2024-11-21T00:00:00Z,x"])
    run_etl()
    api_client.get("/data")
    write_csv(csv_path, ["ETH,3400,1,2024-11-21T00:00:00Z,x"], mode="a")
    run_etl()
    cache.delete(DATA_VERSION_KEY)  # evicted
    assert len(api_client.get("/data").json()["results"]) == 2
