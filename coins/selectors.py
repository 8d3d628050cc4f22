"""Reads of the served domain. Views call these; nothing here writes."""

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import F, OuterRef, Prefetch, Q, QuerySet, Subquery, prefetch_related_objects

from coins.intervals import interval_floor
from coins.keys import symbol_key
from coins.models import Coin, Consensus, ConsensusQuote, Quote, SourceListing
from coins.sources import source_names


def quotes_list() -> QuerySet[Quote]:
    """Every unified quote with its coin, ready for filtering and keyset pagination."""
    return Quote.objects.select_related("coin")


def coins_list(*, filters: Mapping[str, str] | None = None) -> QuerySet[Coin]:
    """Canonical coins by rank (unranked last) then slug, each with its listings.

    `filters`: `symbol` (exact, any case) and `search` (part of the name, slug or
    symbol, any case). Give the page its latest quotes with `coins_latest_quotes_prefetch`.
    """
    filters = filters or {}
    coins = Coin.objects.order_by(F("rank").asc(nulls_last=True), "slug").prefetch_related(
        # The runner-up by its own query: joined, PostgreSQL hashed the whole coin table for a page's listings.
        "listings",
        "listings__runner_up",
    )
    if symbol := filters.get("symbol"):
        # The folded key, as /data filters it: any case and spacing, and the index serves.
        coins = coins.filter(symbol_key=symbol_key(symbol))
    if search := filters.get("search"):
        coins = coins.filter(Q(name__icontains=search) | Q(slug__icontains=search) | Q(symbol__icontains=search))
    return coins


def coin_id_get(*, slug: str) -> int | None:
    """The id of the coin with this slug, or None. The history's first query, written as SQL: the ORM's
    compile of this lookup costs three times what PostgreSQL spends answering it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM coins_coin WHERE slug = %s", [slug])
        row = cursor.fetchone()
    return row[0] if row else None


def coin_get(*, slug: str, history: int) -> Coin:
    """One coin with its listings, latest quote per source and, as `history`, its newest
    `history` quotes per source. Raises Coin.DoesNotExist for an unknown slug."""
    coin = Coin.objects.prefetch_related(
        Prefetch("listings", queryset=SourceListing.objects.select_related("runner_up"))
    ).get(slug=slug)
    coins_latest_quotes_prefetch(coins=[coin])
    coins_consensus_prefetch(coins=[coin])
    coin.history = list(coin_history(coin=coin, per_source=history))
    quotes_flags_attach(quotes=[*coin.latest_quotes, *coin.history])
    return coin


def quotes_flags_attach(*, quotes: Sequence[Quote]) -> None:
    """Give each quote `flags`: the anomalies the pipeline raised on it, in one query for them all.

    Reached through the quotes' reverse relation: coins imports nothing of etl.
    """
    flags = Quote._meta.get_field("anomalies").related_model.objects.filter(quote_id__in={q.pk for q in quotes})
    by_quote = defaultdict(list)
    for flag in flags.order_by("id"):
        by_quote[flag.quote_id].append(flag)
    for quote in quotes:
        quote.flags = by_quote.get(quote.pk, [])


def coins_latest_quotes_prefetch(*, coins: Sequence[Coin]) -> None:
    """Give each coin `latest_quotes`: its newest quote from each source, in source order.

    One query of an index probe per coin and source, for the coins given (a page):
    a window over their quotes would read every quote they ever had.
    """
    coins_given = Coin.objects.filter(pk__in=[coin.pk for coin in coins]).order_by()

    def newest_of(source: str) -> QuerySet:
        newest = Quote.objects.filter(coin=OuterRef("pk"), source=source).order_by("-as_of").values("pk")[:1]
        return coins_given.values(newest=Subquery(newest))

    latest = _quotes_per_source(newest_of).order_by("source")
    prefetch_related_objects(coins, Prefetch("quotes", queryset=latest, to_attr="latest_quotes"))


def coin_history(*, coin: Coin, per_source: int) -> QuerySet[Quote]:
    """The coin's newest `per_source` quotes from each source, by source, newest first."""

    def recent_of(source: str) -> QuerySet:
        recent = coin.quotes.filter(source=source).order_by("-as_of").values("pk")[:per_source]
        # Wrapped, because SQLite refuses a LIMIT directly inside a UNION.
        return Quote.objects.filter(pk__in=recent).order_by().values("pk")

    return _quotes_per_source(recent_of).order_by("source", "-as_of")


def _quotes_per_source(ids_of: Callable[[str], QuerySet]) -> QuerySet[Quote]:
    # One IN over a UNION is a primary-key semi-join; an OR of per-source INs would
    # make PostgreSQL test every quote of the coin against each.
    first, *rest = (ids_of(source) for source in source_names())
    return Quote.objects.filter(pk__in=first.union(*rest, all=True))


LATEST_QUOTE_FIELDS = ("price_usd", "market_cap_usd", "percent_change_24h", "source", "as_of")


def coins_with_latest_quote() -> QuerySet[Coin]:
    """Coins by rank (unranked last), each annotated `latest_<field>` from its newest quote of any source.

    One index probe per coin and field (quote_coin_as_of_idx), for the page the admin shows.
    """
    newest = Quote.objects.filter(coin=OuterRef("pk")).order_by("-as_of", "-id")
    return Coin.objects.order_by(F("rank").asc(nulls_last=True), "slug").annotate(
        **{f"latest_{field}": Subquery(newest.values(field)[:1]) for field in LATEST_QUOTE_FIELDS}
    )


# A consensus's sources' quotes, as a list the serializers read on stored and lone consensus alike.
_MEMBERS = Prefetch("quotes", to_attr="members")


def coins_consensus_prefetch(*, coins: Sequence[Coin]) -> None:
    """Give each coin `latest_consensus`: its newest interval's consensus (CONSENSUS_INTERVAL) with its sources'
    quotes as `members`, or None. Reads the coins' `latest_quotes` (coins_latest_quotes_prefetch first): an
    interval one source quoted has no stored row, its consensus is that quote. One index probe per coin given,
    as for the latest quotes."""
    newest = Consensus.objects.filter(coin=OuterRef("pk"), interval=settings.CONSENSUS_INTERVAL).order_by("-starts_at")
    ids = (
        Coin.objects.filter(pk__in=[coin.pk for coin in coins])
        .order_by()
        .values(newest=Subquery(newest.values("pk")[:1]))
    )
    found = {c.coin_id: c for c in Consensus.objects.filter(pk__in=ids).prefetch_related(_MEMBERS)}
    for coin in coins:
        coin.latest_consensus = _newest_consensus(coin=coin, stored=found.get(coin.pk))


def _newest_consensus(*, coin: Coin, stored: Consensus | None) -> Consensus | None:
    """The stored consensus, unless the coin's newest interval is newer and one source alone quoted it."""
    interval = settings.CONSENSUS_INTERVAL
    starts = {quote.source: interval_floor(quote.as_of, interval=interval) for quote in coin.latest_quotes}
    newest = max(starts.values(), default=None)
    members = [quote for quote in coin.latest_quotes if starts[quote.source] == newest]
    # Two sources in an interval with no row yet: its refresh is still to come (or failed), the last stands.
    if len(members) != 1 or (stored is not None and stored.starts_at >= newest):
        return stored
    (quote,) = members
    zero = Decimal(0) if quote.price_usd > 0 else None  # a median of 0 has no spread or deviation, as in SQL
    lone = Consensus(
        coin=coin, interval=interval, starts_at=newest, price_usd=quote.price_usd, sources=1, spread=zero, outliers=0
    )
    lone.members = [
        ConsensusQuote(source=quote.source, as_of=quote.as_of, price_usd=quote.price_usd, deviation=zero, outlier=False)
    ]
    return lone


def disagreements_list(*, source: str = "", min_spread: Decimal | None = None) -> QuerySet[Consensus]:
    """The intervals (CONSENSUS_INTERVAL) in which a source was an outlier, newest first, with their coin
    and sources' quotes; `source`: only those in which that source was one; `min_spread`: at least this spread."""
    found = (
        Consensus.objects.filter(interval=settings.CONSENSUS_INTERVAL, outliers__gt=0)
        .select_related("coin")
        .prefetch_related(_MEMBERS)
        .order_by("-starts_at", "-id")
    )
    if source:
        found = found.filter(quotes__source=source, quotes__outlier=True)
    if min_spread is not None:
        found = found.filter(spread__gte=min_spread)
    return found


def coin_disagreement_starts(*, coin: Coin, starts, ends) -> list:
    """When each interval (CONSENSUS_INTERVAL) in [starts, ends) in which a source was the coin's outlier began."""
    return list(
        Consensus.objects.filter(
            coin=coin, interval=settings.CONSENSUS_INTERVAL, outliers__gt=0, starts_at__gte=starts, starts_at__lt=ends
        )
        .order_by("starts_at")
        .values_list("starts_at", flat=True)
    )
