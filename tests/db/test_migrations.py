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
    # The hours it rolled up then are gone with 0011: they are grouped when read.
    assert [(c.interval, c.starts_at, c.open, c.close) for c in stored] == [
        ("1d", datetime(2024, 11, 21, tzinfo=UTC), Decimal("100"), Decimal("101")),
    ]


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_drops_what_reads_now_compute_and_keeps_the_medians():
    from coins.history import coin_price_history
    from coins.models import Candle, Consensus, ConsensusQuote

    old = _migrated_back_to("0010_coin_rank_slug_index")
    coin = old.get_model("coins", "Coin").objects.create(
        slug="bitcoin", symbol="BTC", symbol_key="btc", name="Bitcoin", name_key="bitcoin"
    )
    models = {name: old.get_model("coins", name).objects for name in ("Quote", "Consensus", "ConsensusQuote", "Candle")}
    # 00:00 two sources (a median), 01:00 one: the stored rows an earlier version wrote for them.
    for source, minutes, price in (("coincap", 5, "100"), ("coinpaprika", 10, "102"), ("coincap", 65, "103")):
        moment = T0 + timedelta(minutes=minutes)
        fields = {"content_hash": "x", "created_at": moment, "updated_at": moment}
        models["Quote"].create(coin=coin, source=source, as_of=moment, price_usd=Decimal(price), **fields)
    for hour, price, sources in ((0, "101", 2), (1, "103", 1)):
        row = models["Consensus"].create(
            coin=coin,
            interval="1h",
            starts_at=T0 + timedelta(hours=hour),
            price_usd=Decimal(price),
            sources=sources,
            spread=Decimal(0),
            computed_at=T0,
        )
        for source in ("coincap", "coinpaprika")[:sources]:
            models["ConsensusQuote"].create(consensus=row, source=source, as_of=T0, price_usd=Decimal(price))
        figures = {name: Decimal(price) for name in ("open", "high", "low", "close")}
        models["Candle"].create(coin=coin, interval="1h", starts_at=row.starts_at, series="consensus", **figures)

    _migrated_forward()

    assert list(Consensus.objects.values_list("sources", "price_usd")) == [(2, Decimal("101"))]
    assert ConsensusQuote.objects.count() == 2 and not Candle.objects.filter(interval="1h").exists()
    read = coin_price_history(coin_id=coin.pk, interval="1h", starts=T0, ends=T0 + timedelta(hours=2))
    assert [c.close for c in read["consensus"]] == [Decimal("101"), Decimal("103")]  # the same as stored


def _migrated_back_to(coins_migration: str):
    """The database as of that migration of coins; its models (the historical ones) to fill it with."""
    before = [("coins", coins_migration)]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    return executor.loader.project_state(before).apps


def _migrated_forward() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
