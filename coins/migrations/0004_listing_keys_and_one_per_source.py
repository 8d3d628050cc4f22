"""Fold the keys of every coin and listing, and give every coin at most one listing per source.

It also rewrites the legacy CSV's ids on the folded symbol, and splits each coin that holds two listings of one source: the
oldest listing stays, each other moves to a coin of its own. Which of the coin's quotes
came from which listing cannot be told apart (they shared one key), so they stay with
the listing kept; the moved listing's item hash is dropped, so the next run writes its
current quote under its own coin.
"""

from django.db import migrations
from django.utils.text import slugify

from coins.keys import name_key, symbol_key

LEGACY_CSV = "legacy_csv"


def _legacy_id(source_id: str) -> str:
    symbol, sep, name = source_id.partition(":")
    return f"{symbol_key(symbol)}{sep}{name}"


def _free_slug(Coin, base: str) -> str:
    slug, n = base, 2
    while Coin.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def forwards(apps, schema_editor):
    Coin = apps.get_model("coins", "Coin")
    SourceListing = apps.get_model("coins", "SourceListing")
    SourceItemHash = apps.get_model("etl", "SourceItemHash")
    for coin in Coin.objects.all().iterator():
        coin.symbol_key, coin.name_key = symbol_key(coin.symbol), name_key(coin.name)
        coin.save(update_fields=["symbol_key", "name_key"])
    for listing in SourceListing.objects.all().iterator():
        listing.symbol_key, listing.name_key = symbol_key(listing.symbol), name_key(listing.name)
        listing.score = listing.confidence
        if listing.match_rule == "symbol_name":
            listing.match_rule = "evidence"
        listing.evidence = {"rule": listing.match_rule, "note": "matched before evidence was recorded"}
        if listing.source == LEGACY_CSV:
            listing.source_id = _legacy_id(listing.source_id)
        listing.save()
    seen: set[tuple[int, str]] = set()
    for listing in SourceListing.objects.order_by("coin_id", "source", "id").iterator():
        if (listing.coin_id, listing.source) not in seen:
            seen.add((listing.coin_id, listing.source))
            continue
        base = slugify(listing.name)[:100] or slugify(listing.symbol) or "coin"
        coin = Coin.objects.create(
            slug=_free_slug(Coin, f"{base}-{slugify(listing.symbol)}"[:110]),
            symbol=listing.symbol,
            symbol_key=listing.symbol_key,
            name=listing.name or listing.symbol,
            name_key=listing.name_key,
        )
        previous = listing.coin_id
        listing.coin = coin
        listing.match_rule = "new_coin"
        listing.evidence = {"rule": "new_coin", "note": f"split from coin {previous}: it held two {listing.source} listings"}
        listing.save()
        SourceItemHash.objects.filter(source=listing.source, source_key=listing.source_id).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("coins", "0003_listing_evidence"),
        ("etl", "0003_source_item_hash"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)]
