"""Listings that people review, and identity run again over what is stored.

An operator confirms a match or re-points a listing at the right coin; either way the
listing is reviewed, and no later run or rematch changes it. A listing's quotes are
its coin's quotes of its source (a coin holds one listing per source), so they move
with it.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from coins.caching import data_version_bump
from coins.candles import candles_rebuild
from coins.consensus import consensus_rebuild
from coins.models import Coin, MatchRule, Quote, SourceListing
from etl.models import ListingMove, SourceItemHash
from etl.pipeline.identity import Decision, Probe, decision_fields, decisions_apply, decisions_make, pool_gather


class ListingConflict(ValueError):
    """The coin already holds a listing of that source."""


def listings_to_review(*, listings: QuerySet | None = None, below: float | None = None) -> QuerySet[SourceListing]:
    """Unreviewed listings (of `listings`, or all) matched with less confidence than `below`
    (IDENTITY_REVIEW_BELOW), newest first."""
    below = settings.IDENTITY_REVIEW_BELOW if below is None else below
    listings = SourceListing.objects.all() if listings is None else listings
    return listings.filter(reviewed_at__isnull=True, confidence__lt=Decimal(str(below))).order_by("-created_at", "-id")


def listing_confirm(*, listing: SourceListing, user: str) -> SourceListing:
    """An operator says the match is right: it is kept as it is by every later run."""
    listing.confidence = Decimal("1.00")
    listing.reviewed_at, listing.reviewed_by = timezone.now(), user
    listing.updated_at = listing.reviewed_at
    listing.save(update_fields=["confidence", "reviewed_at", "reviewed_by", "updated_at"])
    transaction.on_commit(data_version_bump)
    return listing


@transaction.atomic
def listing_repoint(*, listing: SourceListing, coin: Coin | None, user: str = "") -> SourceListing:
    """Point a source's listing at another coin (or, with `coin=None`, a new coin of its own), quotes and all.

    Raises ListingConflict if the coin already holds a listing of the listing's source.
    """
    if coin is not None and coin.pk == listing.coin_id:
        return listing_confirm(listing=listing, user=user)
    if coin is not None and SourceListing.objects.filter(coin=coin, source=listing.source).exists():
        raise ListingConflict(f"{coin.slug} already has a {listing.source} listing; re-point that one first")
    if coin is None:
        (coin,) = decisions_apply(decisions=[_own_coin(listing)]).values()
    _derived_rebuild(coin_ids=_listing_move(listing=listing, coin=coin))
    listing.match_rule = MatchRule.MANUAL
    listing.confidence = Decimal("1.00")
    listing.reviewed_at, listing.reviewed_by = timezone.now(), user
    listing.updated_at = listing.reviewed_at
    listing.save(update_fields=["coin", "match_rule", "confidence", "reviewed_at", "reviewed_by", "updated_at"])
    return listing


@dataclass(frozen=True)
class Move:
    listing: SourceListing
    old_coin: Coin
    new_coin: Coin | None  # None: a new coin of its own
    decision: Decision

    def __str__(self) -> str:
        target = self.new_coin.slug if self.new_coin else "a new coin"
        return (
            f"{self.listing.source}:{self.listing.source_id}: {self.old_coin.slug} -> {target}"
            f" ({self.decision.rule}, {self.decision.confidence:.2f})"
        )


def listings_rematch(*, dry_run: bool, batch_size: int = 2000) -> list[Move]:
    """Run identity again over every listing nobody reviewed, with the current rules; move those it places elsewhere.

    A listing is weighed as if it were new, against every coin but its own evidence. It stays where it is
    when identity picks its coin, or picks a new coin and its coin holds nothing else. Sources go one after
    the other, each seeing the moves before it. With `dry_run` all of it runs and is rolled back, so what it
    reports is what a real run would do. Returns the moves (made, or that would be).
    """
    with transaction.atomic():
        moves: list[Move] = []
        for source in SourceListing.objects.order_by().values_list("source", flat=True).distinct():
            moves += _source_rematch(source=source, batch_size=batch_size)
        if dry_run:
            transaction.set_rollback(True)
    return moves


def _source_rematch(*, source: str, batch_size: int) -> list[Move]:
    listings = (
        SourceListing.objects.filter(source=source, reviewed_at__isnull=True)
        .exclude(match_rule=MatchRule.MANUAL)
        .select_related("coin")
        .annotate(**_latest_quote_fields())
        .order_by("id")
    )
    ids = list(listings.values_list("pk", flat=True))
    moves: list[Move] = []
    for start in range(0, len(ids), batch_size):
        moves += _rematch_batch(list(listings.filter(pk__in=ids[start : start + batch_size])))
    return moves


def _latest_quote_fields() -> dict:
    def latest(field: str) -> Subquery:
        quotes = Quote.objects.filter(coin=OuterRef("coin_id"), source=OuterRef("source")).order_by("-as_of")
        return Subquery(quotes.values(field)[:1])

    return {"latest_as_of": latest("as_of"), "latest_price": latest("price_usd"), "latest_rank": latest("rank")}


def _probe(listing: SourceListing) -> Probe:
    return Probe(
        source=listing.source,
        source_id=listing.source_id,
        symbol=listing.symbol,
        name=listing.name,
        slug=listing.slug_key,
        rank=listing.latest_rank,
        as_of=listing.latest_as_of,
        price=listing.latest_price,
    )


def _rematch_batch(batch: list[SourceListing]) -> list[Move]:
    probes = [_probe(listing) for listing in batch]
    # The batch's own listings vouch for nothing, and hold their source on no coin, while they are placed again.
    pool = pool_gather(probes=probes, exclude_listing_ids=frozenset(listing.pk for listing in batch))
    decisions = decisions_make(probes=probes, pool=pool)
    holds_more = _coins_holding_others(batch)
    moves, unmoved = [], []
    for listing, decision in zip(batch, decisions, strict=True):
        stays = decision.coin.pk == listing.coin_id if decision.coin else listing.coin_id not in holds_more
        if stays:
            unmoved.append((listing, decision))
        else:
            moves.append(Move(listing=listing, old_coin=listing.coin, new_coin=decision.coin, decision=decision))
    _moves_apply(moves, unmoved)
    return moves


def _coins_holding_others(batch: list[SourceListing]) -> set[int]:
    """Coins of the batch that hold another listing besides the batch's one."""
    ids = {listing.coin_id for listing in batch}
    listings = SourceListing.objects.filter(coin_id__in=ids).values_list("coin_id", "pk")
    mine = {listing.pk for listing in batch}
    return {coin_id for coin_id, pk in listings if pk not in mine}


def _moves_apply(moves: list[Move], unmoved: list[tuple[SourceListing, Decision]]) -> None:
    for listing, decision in unmoved:
        for name, value in decision_fields(decision).items():
            setattr(listing, name, value)
    if unmoved:
        fields = list(decision_fields(unmoved[0][1]))
        SourceListing.objects.bulk_update([listing for listing, _ in unmoved], fields, batch_size=1000)
    targets = decisions_apply(decisions=[m.decision for m in moves])
    pending, moved = list(moves), set()
    while pending:
        # A coin takes one listing of a source: a move waits until the listing it replaces has left.
        held = {m.listing.coin_id for m in pending}
        ready = [m for m in pending if targets[m.listing.source_id].pk not in held] or pending[:1]
        for move in ready:
            listing = move.listing
            if targets[listing.source_id].pk in held:  # two listings trading places: one steps aside first
                (aside,) = decisions_apply(decisions=[_own_coin(listing)]).values()
                moved |= _listing_move(listing=listing, coin=aside)
            moved |= _listing_move(listing=listing, coin=targets[listing.source_id])
            for name, value in decision_fields(move.decision).items():
                setattr(listing, name, value)
            listing.save()
        pending = [m for m in pending if m not in ready]
    if moved:
        _derived_rebuild(coin_ids=moved)


def _listing_move(*, listing: SourceListing, coin: Coin) -> set[int]:
    """Move the listing and its quotes to `coin`; the two coins whose quotes changed, for _derived_rebuild."""
    old = listing.coin_id
    # Kept for /runs/compare: the coin the listing left, by slug (the coin may go below).
    ListingMove.objects.create(
        source=listing.source,
        source_id=listing.source_id,
        from_coin=Coin.objects.filter(pk=old).values_list("slug", flat=True).first() or "",
        to_coin=coin.slug,
    )
    Quote.objects.filter(coin_id=old, source=listing.source).update(coin=coin)
    listing.coin = coin
    SourceListing.objects.filter(pk=listing.pk).update(coin=coin)
    # A snapshot source sends the item unchanged next time; its quote must still be written under the new coin.
    SourceItemHash.objects.filter(source=listing.source, source_key=listing.source_id).delete()
    _coin_drop_if_empty(coin_id=old)
    transaction.on_commit(data_version_bump)
    return {old, coin.pk}


def _derived_rebuild(*, coin_ids: set[int]) -> None:
    """Both coins of each move get their consensus and candles from their quotes again, once for all the moves:
    the coin left behind may have lost an interval's second source, the coin moved to may have gained one."""
    consensus_rebuild(coin_ids=sorted(coin_ids))
    candles_rebuild(coin_ids=sorted(coin_ids))


def _coin_drop_if_empty(*, coin_id: int) -> None:
    """A coin left with no listing and no quote was only ever what that listing said: it goes."""
    if (
        not SourceListing.objects.filter(coin_id=coin_id).exists()
        and not Quote.objects.filter(coin_id=coin_id).exists()
    ):
        Coin.objects.filter(pk=coin_id).delete()


def _own_coin(listing: SourceListing) -> Decision:
    probe = Probe(
        source=listing.source,
        source_id=listing.source_id,
        symbol=listing.symbol,
        name=listing.name,
        slug=listing.slug_key,
        rank=None,
        as_of=None,
        price=None,
    )
    return Decision(probe=probe, coin=None, rule=MatchRule.MANUAL, score=1.0, confidence=1.0, evidence={})
