from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from coins.models import Coin, MatchRule, SourceListing
from etl.pipeline.identity import coins_resolve
from etl.pipeline.records import QuoteRecord
from etl.services import listing_repoint

pytestmark = pytest.mark.django_db
T0 = datetime(2024, 11, 21, tzinfo=UTC)


def record(source: str, source_id: str, symbol: str, name: str = "", rank: int | None = None) -> QuoteRecord:
    return QuoteRecord(
        source=source, source_id=source_id, symbol=symbol, name=name, as_of=T0, price_usd=Decimal(1), rank=rank
    )


def test_the_same_asset_from_every_source_is_one_coin():
    a = coins_resolve(source="coinpaprika", records=[record("coinpaprika", "btc-bitcoin", "BTC", "Bitcoin", 1)])
    b = coins_resolve(source="coincap", records=[record("coincap", "bitcoin", "BTC", "bitcoin", 1)])
    c = coins_resolve(source="legacy_csv", records=[record("legacy_csv", "BTC", "BTC")])
    assert a["btc-bitcoin"] == b["bitcoin"] == c["BTC"]
    coin = Coin.objects.get()
    assert (coin.slug, coin.name) == ("bitcoin", "Bitcoin")
    rules = dict(SourceListing.objects.values_list("source", "match_rule"))
    assert rules == {
        "coinpaprika": MatchRule.NEW_COIN,
        "coincap": MatchRule.SYMBOL_NAME,
        "legacy_csv": MatchRule.SYMBOL_ONLY,
    }


def test_colliding_symbols_stay_separate_coins():
    ids = coins_resolve(
        source="coinpaprika",
        records=[
            record("coinpaprika", "meta-metadium", "META", "Metadium", 300),
            record("coinpaprika", "meta-meta-pool", "META", "Meta Pool", 900),
            record("coinpaprika", "meta-metaverse", "META", "Metaverse", None),
        ],
    )
    assert len(set(ids.values())) == 3
    assert sorted(Coin.objects.values_list("slug", flat=True)) == ["meta-pool", "metadium", "metaverse"]


def test_a_symbol_only_record_takes_the_best_ranked_coin_with_lower_confidence():
    coins_resolve(
        source="coinpaprika",
        records=[
            record("coinpaprika", "uni-uniswap", "UNI", "Uniswap", 20),
            record("coinpaprika", "uni-universe", "UNI", "Universe Token", 2000),
        ],
    )
    ids = coins_resolve(source="legacy_csv", records=[record("legacy_csv", "UNI", "UNI")])
    listing = SourceListing.objects.get(source="legacy_csv")
    assert Coin.objects.get(pk=ids["UNI"]).name == "Uniswap"
    assert listing.match_rule == MatchRule.SYMBOL_ONLY and listing.confidence < Decimal("0.5")


def test_a_provisional_coin_from_a_bare_symbol_is_adopted_by_the_first_named_source():
    csv_ids = coins_resolve(source="legacy_csv", records=[record("legacy_csv", "SOL", "SOL")])
    assert Coin.objects.get().provisional
    api_ids = coins_resolve(source="coincap", records=[record("coincap", "solana", "SOL", "Solana", 5)])
    coin = Coin.objects.get()
    assert csv_ids["SOL"] == api_ids["solana"] == coin.pk
    assert (coin.slug, coin.name, coin.provisional, coin.rank) == ("solana", "Solana", False, 5)


def test_same_symbol_different_name_in_the_csv_are_different_coins():
    ids = coins_resolve(
        source="legacy_csv",
        records=[
            record("legacy_csv", "ABC:alphacoin", "ABC", "Alpha Coin"),
            record("legacy_csv", "ABC:betacoin", "ABC", "Beta Coin"),
        ],
    )
    assert ids["ABC:alphacoin"] != ids["ABC:betacoin"]


def test_a_manual_repoint_survives_the_next_run():
    coins_resolve(source="coinpaprika", records=[record("coinpaprika", "eth-ethereum", "ETH", "Ethereum", 2)])
    ids = coins_resolve(source="coincap", records=[record("coincap", "ethereum-pow", "ETH", "EthereumPoW", 900)])
    wrong = SourceListing.objects.get(source="coincap")
    right = Coin.objects.get(slug="ethereum")
    listing_repoint(listing=wrong, coin=right)
    again = coins_resolve(source="coincap", records=[record("coincap", "ethereum-pow", "ETH", "EthereumPoW", 900)])
    assert again["ethereum-pow"] == right.pk != ids["ethereum-pow"]
    assert SourceListing.objects.get(source="coincap").match_rule == MatchRule.MANUAL


def test_slugs_stay_unique_when_names_collide():
    coins_resolve(
        source="coinpaprika",
        records=[
            record("coinpaprika", "a", "AAA", "Token"),
            record("coinpaprika", "b", "BBB", "Token"),
            record("coinpaprika", "c", "BBB", "TOKEN!"),
        ],
    )
    coins_resolve(source="coincap", records=[record("coincap", "d", "CCC", "Token")])
    assert sorted(Coin.objects.values_list("slug", flat=True)) == ["token", "token-bbb", "token-ccc"]


def test_resolution_is_set_based(django_assert_max_num_queries):
    records = [record("coinpaprika", f"c{i}", f"S{i % 700}", f"Coin {i}", i + 1) for i in range(2000)]
    # Django splits SQLite inserts into statements of 999 parameters; PostgreSQL takes each in one.
    inserts = 1 if connection.vendor == "postgresql" else 40
    with django_assert_max_num_queries(6 + inserts):
        coins_resolve(source="coinpaprika", records=records)
    assert Coin.objects.count() == 2000
    with django_assert_max_num_queries(3):
        coins_resolve(source="coinpaprika", records=records)
