"""The migrations match the models."""

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_migrations_match_the_models():
    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_the_migration_folds_keys_and_splits_a_coin_holding_two_listings_of_one_source():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from coins.models import Coin, SourceListing

    before = [("coins", "0003_listing_evidence")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    coin = old.get_model("coins", "Coin").objects.create(
        slug="holo", symbol="HOT", symbol_key="", name="Holo", name_key="holo"
    )
    listing = old.get_model("coins", "SourceListing").objects
    common = {"coin": coin, "symbol": "HOT", "name": "Holo", "symbol_key": "", "name_key": "", "confidence": 1}
    listing.create(source="coincap", source_id="holo", match_rule="new_coin", **common)
    listing.create(source="coincap", source_id="holo-old", match_rule="symbol_name", **common)
    listing.create(source="legacy_csv", source_id="HOT:holo", match_rule="symbol_name", **common)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    kept, moved = SourceListing.objects.filter(source="coincap").order_by("id")
    assert kept.coin_id == coin.pk != moved.coin_id
    assert Coin.objects.get(pk=moved.coin_id).slug == "holo-hot" and "split from coin" in moved.evidence["note"]
    csv_listing = SourceListing.objects.get(source="legacy_csv")
    assert (csv_listing.source_id, csv_listing.match_rule, csv_listing.symbol_key) == ("hot:holo", "evidence", "hot")
    assert Coin.objects.get(pk=coin.pk).symbol_key == "hot"
