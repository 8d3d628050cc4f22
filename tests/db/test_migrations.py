"""The migrations match the models."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import T0


@pytest.mark.django_db
def test_migrations_match_the_models():
    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_the_migration_folds_keys_and_splits_a_coin_holding_two_listings_of_one_source():
    from coins.models import Coin, SourceListing

    old = _migrated_back_to("0003_listing_evidence")
    coin = old.get_model("coins", "Coin").objects.create(
        slug="holo", symbol="HOT", symbol_key="", name="Holo", name_key="holo"
    )
    listing = old.get_model("coins", "SourceListing").objects
    common = {"coin": coin, "symbol": "HOT", "name": "Holo", "symbol_key": "", "name_key": "", "confidence": 1}
    listing.create(source="coincap", source_id="holo", match_rule="new_coin", **common)
    listing.create(source="coincap", source_id="holo-old", match_rule="symbol_name", **common)
    listing.create(source="legacy_csv", source_id="HOT:holo", match_rule="symbol_name", **common)

    _migrated_forward()

    kept, moved = SourceListing.objects.filter(source="coincap").order_by("id")
    assert kept.coin_id == coin.pk != moved.coin_id
    assert Coin.objects.get(pk=moved.coin_id).slug == "holo-hot" and "split from coin" in moved.evidence["note"]
    csv_listing = SourceListing.objects.get(source="legacy_csv")
    assert (csv_listing.source_id, csv_listing.match_rule, csv_listing.symbol_key) == ("hot:holo", "evidence", "hot")
    assert Coin.objects.get(pk=coin.pk).symbol_key == "hot"


@pytest.mark.django_db(transaction=True)
def test_the_candle_migration_rolls_up_the_quotes_already_stored():
    from coins.models import Candle

    old = _migrated_back_to("0007_quote_coin_index_folded")
    coin = old.get_model("coins", "Coin").objects.create(
        slug="bitcoin", symbol="BTC", symbol_key="btc", name="Bitcoin", name_key="bitcoin"
    )
    for minutes, price in ((5, "100"), (65, "103"), (70, "101")):
        moment = T0 + timedelta(minutes=minutes)
        old.get_model("coins", "Quote").objects.create(
            coin=coin,
            source="coincap",
            as_of=moment,
            price_usd=Decimal(price),
            content_hash="x",
            created_at=moment,
            updated_at=moment,
        )

    _migrated_forward()

    stored = Candle.objects.filter(coin_id=coin.pk, series="coincap").order_by("interval", "starts_at")
    assert [(c.interval, c.starts_at, c.open, c.close) for c in stored] == [
        ("1d", datetime(2024, 11, 21, tzinfo=UTC), Decimal("100"), Decimal("101")),
        ("1h", datetime(2024, 11, 21, tzinfo=UTC), Decimal("100"), Decimal("100")),
        ("1h", datetime(2024, 11, 21, 1, tzinfo=UTC), Decimal("103"), Decimal("101")),
    ]


def _migrated_back_to(coins_migration: str):
    """The database as of that migration of coins; its models (the historical ones) to fill it with."""
    before = [("coins", coins_migration)]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    return executor.loader.project_state(before).apps


def _migrated_forward() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
