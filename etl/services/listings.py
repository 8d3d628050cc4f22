"""Listings that people fix: an operator re-points a source's listing at the right coin."""

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from coins.caching import data_version_bump
from coins.models import Coin, MatchRule, SourceListing
from etl.models import SourceItemHash


def listing_repoint(*, listing: SourceListing, coin: Coin) -> SourceListing:
    """Point a source's listing at another coin; the next run keeps it (an existing listing wins)."""
    listing.coin = coin
    listing.match_rule = MatchRule.MANUAL
    listing.confidence = Decimal("1.00")
    listing.updated_at = timezone.now()
    listing.save(update_fields=["coin", "match_rule", "confidence", "updated_at"])
    # The next run must write this item's quote under the new coin, even if the source sends it unchanged.
    SourceItemHash.objects.filter(source=listing.source, source_key=listing.source_id).delete()
    transaction.on_commit(data_version_bump)
    return listing
