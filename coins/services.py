"""Writes to the served domain that people make (the pipeline's writes live in etl/)."""

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from rest_framework_api_key.models import APIKey

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


def api_key_create(*, name: str, expiry_date: datetime | None = None) -> tuple[APIKey, str]:
    """A new read key: (its record, the key itself). Only the key's hash is stored: show it once."""
    if not name.strip():
        raise ValueError("an API key needs a name (whose key it is)")
    return APIKey.objects.create_key(name=name.strip(), expiry_date=expiry_date)


def api_key_revoke(*, prefix: str) -> APIKey:
    """Revoke the key with this prefix (the part before the dot); revoking cannot be undone."""
    try:
        api_key = APIKey.objects.get(prefix=prefix)
    except APIKey.DoesNotExist as exc:
        raise ValueError(f"no API key has the prefix {prefix!r}") from exc
    api_key.revoked = True
    api_key.save(update_fields=["revoked"])
    return api_key
