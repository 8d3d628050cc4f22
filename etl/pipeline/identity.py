"""Which Coin a source's record is about: one pass over a batch, shared by every source.

Rules, in order (see docs/architecture.md):
1. an existing SourceListing wins (so an operator's re-point sticks);
2. a coin with the same symbol and the same folded name;
3. a provisional coin (made from a bare symbol) with that symbol is adopted by
   the first source that names it;
4. a record with a name and no match makes a new coin: symbols are shared by
   many real coins, so a symbol alone never merges two named coins;
5. a record with only a symbol (the legacy CSV) takes the best-ranked coin with
   that symbol, at lower confidence, or makes a provisional coin.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone
from django.utils.text import slugify

from coins.models import Coin, MatchRule, SourceListing
from etl.pipeline.keys import name_key
from etl.pipeline.records import QuoteRecord

CONFIDENCE = {
    MatchRule.SYMBOL_NAME: Decimal("0.90"),
    MatchRule.NEW_COIN: Decimal("1.00"),
    "symbol_only_unique": Decimal("0.60"),
    "symbol_only_ambiguous": Decimal("0.30"),
    "provisional": Decimal("0.50"),
}


@dataclass
class _Candidates:
    """Coins sharing the batch's symbols, indexed for the matching rules."""

    by_symbol_name: dict[tuple[str, str], Coin] = field(default_factory=dict)
    by_symbol: dict[str, list[Coin]] = field(default_factory=lambda: defaultdict(list))

    def add(self, coin: Coin) -> None:
        self.by_symbol_name.setdefault((coin.symbol, coin.name_key), coin)
        self.by_symbol[coin.symbol].append(coin)

    def provisional(self, symbol: str) -> Coin | None:
        found = [c for c in self.by_symbol[symbol] if c.provisional]
        return found[0] if len(found) == 1 else None

    def ranked(self, symbol: str) -> list[Coin]:
        named = [c for c in self.by_symbol[symbol] if not c.provisional]
        return sorted(named, key=lambda c: (c.rank is None, c.rank or 0, c.pk or 0))


def coins_resolve(*, source: str, records: Iterable[QuoteRecord]) -> dict[str, int]:
    """Map each record's source_id to a coin id, creating coins and listings as the rules say."""
    latest: dict[str, QuoteRecord] = {}
    for record in records:
        latest[record.source_id] = record
    resolved = dict(
        SourceListing.objects.filter(source=source, source_id__in=list(latest)).values_list("source_id", "coin_id")
    )
    pending = [r for sid, r in latest.items() if sid not in resolved]
    if pending:
        resolved.update(_match_and_create(source=source, records=pending))
    _ranks_improve(records=latest.values(), coin_ids=resolved)
    return resolved


def _match_and_create(*, source: str, records: list[QuoteRecord]) -> dict[str, int]:
    candidates = _Candidates()
    for coin in Coin.objects.filter(symbol__in={r.symbol for r in records}):
        candidates.add(coin)

    matches: list[tuple[QuoteRecord, Coin, str, Decimal]] = []
    new_coins: list[Coin] = []
    adopted: list[Coin] = []
    for record in records:
        key = name_key(record.name)
        if key:
            coin = candidates.by_symbol_name.get((record.symbol, key))
            if coin is not None:
                matches.append((record, coin, MatchRule.SYMBOL_NAME, CONFIDENCE[MatchRule.SYMBOL_NAME]))
                continue
            coin = candidates.provisional(record.symbol)
            if coin is not None:
                coin.name, coin.name_key, coin.provisional = record.name, key, False
                coin.updated_at = timezone.now()
                adopted.append(coin)
            else:
                coin = Coin(symbol=record.symbol, name=record.name, name_key=key, rank=record.rank)
                new_coins.append(coin)
            candidates.by_symbol_name[(record.symbol, key)] = coin
            if coin not in candidates.by_symbol[record.symbol]:
                candidates.by_symbol[record.symbol].append(coin)
            matches.append((record, coin, MatchRule.NEW_COIN, CONFIDENCE[MatchRule.NEW_COIN]))
            continue
        ranked = candidates.ranked(record.symbol)
        if ranked:
            confidence = CONFIDENCE["symbol_only_unique" if len(ranked) == 1 else "symbol_only_ambiguous"]
            matches.append((record, ranked[0], MatchRule.SYMBOL_ONLY, confidence))
            continue
        coin = candidates.provisional(record.symbol)
        if coin is None:
            coin = Coin(symbol=record.symbol, name=record.symbol, name_key="", rank=record.rank, provisional=True)
            new_coins.append(coin)
            candidates.add(coin)
        matches.append((record, coin, MatchRule.SYMBOL_ONLY, CONFIDENCE["provisional"]))

    _slugs_assign(new_coins + adopted)
    Coin.objects.bulk_create(new_coins)
    if adopted:
        Coin.objects.bulk_update(adopted, ["slug", "name", "name_key", "provisional", "updated_at"])
    SourceListing.objects.bulk_create(
        [
            SourceListing(
                source=source,
                source_id=record.source_id,
                coin=coin,
                symbol=record.symbol,
                name=record.name,
                match_rule=rule,
                confidence=confidence,
            )
            for record, coin, rule, confidence in matches
        ]
    )
    return {record.source_id: coin.pk for record, coin, _, _ in matches}


def _slugs_assign(coins: list[Coin]) -> None:
    """A readable unique slug per coin: its name, then name-symbol, then a number."""
    if not coins:
        return
    wanted = [slugify(c.name)[:100] or slugify(c.symbol) or "coin" for c in coins]
    with_symbol = [f"{base}-{slugify(c.symbol)}"[:110] for base, c in zip(wanted, coins, strict=True)]
    mine = {c.pk for c in coins if c.pk}
    taken = set(
        Coin.objects.filter(slug__in=set(wanted) | set(with_symbol)).exclude(pk__in=mine).values_list("slug", flat=True)
    )
    for coin, base, alternative in zip(coins, wanted, with_symbol, strict=True):
        slug = base if base not in taken else alternative
        if slug in taken:
            taken |= set(Coin.objects.filter(slug__startswith=f"{alternative}-").values_list("slug", flat=True))
            n = 2
            while (slug := f"{alternative}-{n}") in taken:
                n += 1
        taken.add(slug)
        coin.slug = slug


def _ranks_improve(*, records: Iterable[QuoteRecord], coin_ids: dict[str, int]) -> None:
    """Keep each coin's best rank, which decides symbol-only matches; write only what improves."""
    best: dict[int, int] = {}
    for record in records:
        if record.rank is not None:
            coin_id = coin_ids[record.source_id]
            best[coin_id] = min(record.rank, best.get(coin_id, record.rank))
    if not best:
        return
    stale = [
        Coin(pk=pk, rank=best[pk])
        for pk, rank in Coin.objects.filter(pk__in=list(best)).values_list("pk", "rank")
        if rank is None or best[pk] < rank
    ]
    Coin.objects.bulk_update(stale, ["rank"], batch_size=1000)
