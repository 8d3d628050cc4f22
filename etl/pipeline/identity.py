"""Which Coin a source's record is about: evidence weighed, one set-based pass per batch, shared by every source.

An existing listing wins (so an operator's review sticks). Otherwise the record's candidates are the coins
that share its folded symbol, its folded name or its id slug, with any source's spelling; each is scored on
the evidence it has (see `_score`): slug agreement, symbol equality, name similarity once generic words are
dropped, rank proximity, and prices that agree or clearly disagree at nearby moments. The best candidate is
taken when it scores at least ACCEPT_AT and beats the runner-up by MARGIN; otherwise the record makes a new
coin, and the runner-up is recorded. A coin holds at most one listing per source, so a candidate that holds
one of this source is not a candidate, and two records of one batch never share a coin.

A record with only a symbol (a legacy CSV of tickers) or only a name (a CSV of names) cannot be weighed
this way: it takes the coin with that symbol (or name) whose prices agree with it, else the best-ranked one,
at lower confidence, or else a provisional coin that the first source to give both adopts.
"""

import heapq
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify
from rapidfuzz import fuzz

from coins.models import Coin, MatchRule, Quote, SourceListing
from etl.pipeline.keys import name_key, name_tokens, slug_key, symbol_key
from etl.pipeline.records import QuoteRecord

# Accept the best candidate from this score on, if it beats the runner-up by MARGIN.
ACCEPT_AT = 0.60
MARGIN = 0.10
# Points each piece of evidence gives (or takes). Symbol alone (0.25) never reaches ACCEPT_AT.
SLUG_AGREES = 0.35
SYMBOL_AGREES = 0.25
SYMBOL_DIFFERS = -0.10  # tickers do change
NAME_MAX = 0.45  # for an identical name, falling to 0 at NAME_SIMILAR
NAME_SIMILAR = 0.60
NAME_DIFFERS_MAX = -0.10  # projects do get renamed
RANK_MAX = 0.20
PRICE_AGREES = 0.30
PRICE_DISAGREES = -1.00  # the strongest signal that two same-ticker listings are not one asset
PROVISIONAL_AGREES = 0.35  # a provisional coin that agrees with all it knows is adopted
# Prices agree within 5% and clearly disagree past 50% (one source's dust coin against another's).
PRICE_AGREE_RATIO = Decimal("1.05")
PRICE_DISAGREE_RATIO = Decimal("1.5")
# Records with only a symbol or a name: confidence when one coin fits, when several do, when the price agrees.
PARTIAL_UNIQUE = 0.60
PARTIAL_AMBIGUOUS = 0.30
PARTIAL_PRICE_AGREES = 0.85
PROVISIONAL_NEW = 0.50
# A new coin where a candidate had enough evidence for it but something (prices, a close second) spoke against.
CONFLICTED = 0.50


@dataclass(frozen=True, slots=True)
class Probe:
    """What identity knows of one source item: its names, its rank and one price at one moment."""

    source: str
    source_id: str
    symbol: str
    name: str
    slug: str
    rank: int | None
    as_of: datetime | None
    price: Decimal | None
    symbol_key: str = field(init=False)
    name_key: str = field(init=False)
    slug_key: str = field(init=False)
    tokens: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbol_key", symbol_key(self.symbol))
        object.__setattr__(self, "name_key", name_key(self.name))
        object.__setattr__(self, "slug_key", slug_key(self.slug))
        object.__setattr__(self, "tokens", name_tokens(self.name) if self.name else "")

    @property
    def partial(self) -> bool:
        """Only a symbol or only a name: too little to weigh."""
        return not (self.symbol_key and self.name_key)

    @classmethod
    def of(cls, record: QuoteRecord) -> "Probe":
        return cls(
            source=record.source,
            source_id=record.source_id,
            symbol=record.symbol,
            name=record.name,
            slug=record.slug,
            rank=record.rank,
            as_of=record.as_of,
            price=record.price_usd,
        )


@dataclass(frozen=True, slots=True)
class Known:
    """One way a candidate coin is known: one of its listings, or the coin's own fields when it has none."""

    source: str
    source_id: str
    symbol_key: str
    name_key: str
    slug_key: str
    tokens: str


@dataclass
class Candidate:
    coin: Coin
    known: list[Known] = field(default_factory=list)
    # Sources it already holds a listing of (apart from the listing being re-resolved).
    sources: set[str] = field(default_factory=set)
    # (source, as_of, price) of its quotes near the batch's moments.
    prices: list[tuple[str, datetime, Decimal]] = field(default_factory=list)


@dataclass
class Decision:
    probe: Probe
    coin: Coin | None  # None: a new coin
    rule: str
    score: float
    confidence: float
    evidence: dict
    runner_up: Coin | None = None
    runner_up_score: float | None = None


@dataclass
class _Scored:
    candidate: Candidate
    score: float
    parts: dict


class Pool:
    """The candidate coins of a batch, found by any folded key any source knows them by."""

    def __init__(self, *, candidates: dict[int, Candidate], window: timedelta):
        self.candidates = candidates
        self.window = window
        self._by_key: dict[str, list[Candidate]] = defaultdict(list)
        for candidate in candidates.values():
            if not candidate.known:
                continue  # known only through the listing being re-resolved: not a candidate for it
            coin = candidate.coin
            keys = {coin.symbol_key, coin.name_key, slug_key(coin.slug)}
            for known in candidate.known:
                keys |= {known.symbol_key, known.name_key, known.slug_key}
            for key in keys - {""}:
                self._by_key[key].append(candidate)

    def for_probe(self, probe: Probe) -> list[Candidate]:
        found: dict[int, Candidate] = {}
        for key in {probe.symbol_key, probe.name_key, probe.slug_key} - {""}:
            for candidate in self._by_key.get(key, ()):
                found[candidate.coin.pk] = candidate
        return list(found.values())


# --- the seam the load stage calls -----------------------------------------------------------------


def coins_resolve(*, source: str, records: Iterable[QuoteRecord]) -> dict[str, int]:
    """Map each record's source_id to a coin id, creating coins and listings as the evidence says."""
    latest: dict[str, QuoteRecord] = {}
    for record in records:
        latest[record.source_id] = record
    resolved = dict(
        SourceListing.objects.filter(source=source, source_id__in=list(latest)).values_list("source_id", "coin_id")
    )
    pending = [Probe.of(r) for sid, r in latest.items() if sid not in resolved]
    if pending:
        pool = pool_gather(probes=pending)
        extended = _listings_extended(source=source, probes=pending, pool=pool)
        resolved.update(extended)
        decisions = decisions_make(probes=[p for p in pending if p.source_id not in extended], pool=pool)
        coins = decisions_apply(decisions=decisions)
        SourceListing.objects.bulk_create(
            [_listing_new(decision, coins[decision.probe.source_id]) for decision in decisions]
        )
        resolved.update({sid: coin.pk for sid, coin in coins.items()})
    _ranks_improve(records=latest.values(), coin_ids=resolved)
    return resolved


# --- gathering the candidates: a bounded number of queries per batch ----------------------------------


def pool_gather(*, probes: Sequence[Probe], exclude_listing_ids: frozenset[int] = frozenset()) -> Pool:
    """The coins any probe could be, with their listings and their quotes near the probes' moments.

    `exclude_listing_ids`: listings being re-resolved (rematch), which must not vouch for themselves.
    """
    symbols = {p.symbol_key for p in probes} - {""}
    names = ({p.name_key for p in probes} | {p.slug_key for p in probes}) - {""}
    coin_ids = set(Coin.objects.filter(Q(symbol_key__in=symbols) | Q(name_key__in=names)).values_list("pk", flat=True))
    coin_ids |= set(
        SourceListing.objects.filter(Q(symbol_key__in=symbols) | Q(name_key__in=names) | Q(slug_key__in=names))
        .exclude(pk__in=exclude_listing_ids)
        .values_list("coin_id", flat=True)
    )
    window = timedelta(seconds=settings.IDENTITY_PRICE_WINDOW_SECONDS)
    if not coin_ids:
        return Pool(candidates={}, window=window)
    candidates = {coin.pk: Candidate(coin=coin) for coin in Coin.objects.filter(pk__in=coin_ids)}
    for listing in SourceListing.objects.filter(coin_id__in=coin_ids).exclude(pk__in=exclude_listing_ids):
        candidate = candidates[listing.coin_id]
        candidate.sources.add(listing.source)
        candidate.known.append(
            Known(
                source=listing.source,
                source_id=listing.source_id,
                symbol_key=listing.symbol_key,
                name_key=listing.name_key,
                slug_key=listing.slug_key,
                tokens=name_tokens(listing.name) if listing.name else "",
            )
        )
    for candidate in candidates.values():
        coin = candidate.coin
        if not candidate.known and not exclude_listing_ids:
            # A coin nobody lists yet (made by an operator): its own fields are all there is to match.
            candidate.known.append(
                Known("", "", coin.symbol_key, coin.name_key, slug_key(coin.slug), name_tokens(coin.name))
            )
    moments = _windows([p.as_of for p in probes if p.as_of is not None], window)
    if moments:
        near = Q()
        for start, end in moments:
            near |= Q(as_of__gte=start, as_of__lte=end)
        quotes = Quote.objects.filter(near, coin_id__in=list(candidates)).values_list(
            "coin_id", "source", "as_of", "price_usd"
        )
        for coin_id, source, as_of, price in quotes:
            candidates[coin_id].prices.append((source, as_of, price))
    return Pool(candidates=candidates, window=window)


def _windows(moments: list[datetime], window: timedelta) -> list[tuple[datetime, datetime]]:
    """The probes' moments widened by the window, overlapping ones merged: a snapshot's one moment is one range."""
    merged: list[list[datetime]] = []
    for moment in sorted(set(moments)):
        if merged and moment - window <= merged[-1][1]:
            merged[-1][1] = moment + window
        else:
            merged.append([moment - window, moment + window])
    return [(start, end) for start, end in merged]


# --- weighing the evidence: pure, given the pool ------------------------------------------------------


def decisions_make(*, probes: Sequence[Probe], pool: Pool) -> list[Decision]:
    """One decision per probe; a coin takes at most one probe of a source, the best-scored first."""
    taken: set[int] = set()
    full = [p for p in probes if not p.partial]
    partial = [p for p in probes if p.partial]
    decisions = _full_decide(full, pool, taken)
    decisions += [_partial_decide(probe, pool, taken) for probe in sorted(partial, key=_rank_order)]
    return decisions


def _rank_order(probe: Probe) -> tuple:
    return (probe.rank is None, probe.rank or 0, probe.source_id)


def _eligible(probe: Probe, candidate: Candidate, taken: set[int]) -> bool:
    return candidate.coin.pk not in taken and probe.source not in candidate.sources


def _full_decide(probes: list[Probe], pool: Pool, taken: set[int]) -> list[Decision]:
    scored = {
        probe.source_id: sorted(
            (_score(probe, c, pool.window) for c in pool.for_probe(probe) if probe.source not in c.sources),
            key=lambda s: -s.score,
        )
        for probe in probes
    }
    # Best pairs first, so when two records want one coin the better-fitting (then better-ranked) one gets it.
    heap = [
        (-s.score, _rank_order(probe), probe.source_id, i)
        for probe in probes
        for i, s in enumerate(scored[probe.source_id])
        if s.score >= ACCEPT_AT
    ]
    heapq.heapify(heap)
    by_id = {probe.source_id: probe for probe in probes}
    decided: dict[str, Decision] = {}
    while heap:
        _, _, source_id, i = heapq.heappop(heap)
        if source_id in decided:
            continue
        options = scored[source_id]
        best = options[i]
        if best.candidate.coin.pk in taken:
            continue
        rest = [s for s in options[i + 1 :] if s.candidate.coin.pk not in taken]
        if rest and best.score - rest[0].score < MARGIN:
            # Too close to call: a new coin, the runner-up recorded (never the second-best instead).
            decided[source_id] = _decision(by_id[source_id], None, options, rule=MatchRule.NEW_COIN)
            continue
        taken.add(best.candidate.coin.pk)
        others = [s for s in options if s is not best]
        decided[source_id] = _decision(by_id[source_id], best, others, rule=MatchRule.EVIDENCE)
    for probe in probes:
        if probe.source_id not in decided:
            decided[probe.source_id] = _decision(probe, None, scored[probe.source_id], rule=MatchRule.NEW_COIN)
    return [decided[probe.source_id] for probe in probes]


def _decision(probe: Probe, chosen: _Scored | None, others: list[_Scored], *, rule: str) -> Decision:
    runner = others[0] if others else None
    if chosen is None:
        score = 1.0 if runner is None else 1.0 - _clamp(runner.score)
        if runner is not None and sum(p["points"] for p in runner.parts.values() if p["points"] > 0) >= ACCEPT_AT:
            score = min(score, CONFLICTED)  # it would be that coin but for the prices (or the margin): look at it
        confidence = score
    else:
        score = confidence = _clamp(chosen.score)
    evidence = {
        "rule": rule,
        "accept_at": ACCEPT_AT,
        "margin": MARGIN,
        "candidates": len(others) + (chosen is not None),
        "chosen": None if chosen is None else _explain(chosen),
        "runner_up": None if runner is None else _explain(runner),
    }
    return Decision(
        probe=probe,
        coin=None if chosen is None else chosen.candidate.coin,
        rule=rule,
        score=score,
        confidence=confidence,
        evidence=evidence,
        runner_up=None if runner is None else runner.candidate.coin,
        runner_up_score=None if runner is None else _clamp(runner.score),
    )


def _explain(scored: _Scored) -> dict:
    coin = scored.candidate.coin
    return {"coin": coin.slug, "score": round(scored.score, 3), "evidence": scored.parts}


def _clamp(score: float) -> float:
    return round(min(1.0, max(0.0, score)), 2)


def _score(probe: Probe, candidate: Candidate, window: timedelta) -> _Scored:
    """Points for each piece of evidence the candidate has, from the way it is known that fits best."""
    best_points, best_parts = None, {}
    for known in candidate.known:
        parts: dict[str, dict] = {}
        if probe.slug_key and probe.slug_key in {known.slug_key, known.name_key}:
            parts["slug"] = {"value": known.source_id or candidate.coin.slug, "points": SLUG_AGREES}
        if probe.symbol_key and known.symbol_key:
            agrees = probe.symbol_key == known.symbol_key
            parts["symbol"] = {"value": agrees, "points": SYMBOL_AGREES if agrees else SYMBOL_DIFFERS}
        if probe.tokens and known.tokens:
            similarity = _name_similarity(probe, known)
            points = _name_points(similarity)
            # A name that only repeats its ticker ("WETH" for Wrapped ETH) can agree but never disagree.
            if points >= 0 or not (
                _ticker_named(probe.name_key, probe.symbol_key) or _ticker_named(known.name_key, known.symbol_key)
            ):
                parts["name"] = {"value": round(similarity, 3), "points": round(points, 3)}
        elif candidate.coin.provisional and (
            probe.symbol_key == known.symbol_key or (probe.name_key and probe.name_key == known.name_key)
        ):
            # Made from a bare symbol or name: it agrees with all it knows, so the first full record adopts it.
            parts["provisional"] = {"value": True, "points": PROVISIONAL_AGREES}
        points = sum(part["points"] for part in parts.values())
        if best_points is None or points > best_points:
            best_points, best_parts = points, parts
    parts = dict(best_parts)
    if probe.rank and candidate.coin.rank:
        proximity = _rank_proximity(probe.rank, candidate.coin.rank)
        parts["rank"] = {"value": [probe.rank, candidate.coin.rank], "points": round(RANK_MAX * proximity, 3)}
    price = _price_evidence(probe, candidate, window)
    if price is not None:
        parts["price"] = price
    return _Scored(candidate=candidate, score=sum(part["points"] for part in parts.values()), parts=parts)


def _name_similarity(probe: Probe, known: Known) -> float:
    # Mostly the distinctive words ("ChainLink Token" is "chainlink"); a little of the whole folded name, so
    # "Nova Token" and "Nova Coin" are close but not identical.
    distinctive = fuzz.ratio(probe.tokens, known.tokens) / 100
    whole = fuzz.ratio(probe.name_key, known.name_key) / 100
    return 0.8 * distinctive + 0.2 * whole


def _ticker_named(name: str, symbol: str) -> bool:
    return bool(name) and name == name_key(symbol)


def _name_points(similarity: float) -> float:
    if similarity >= NAME_SIMILAR:
        return NAME_MAX * (similarity - NAME_SIMILAR) / (1 - NAME_SIMILAR)
    return NAME_DIFFERS_MAX * (NAME_SIMILAR - similarity) / NAME_SIMILAR


def _rank_proximity(a: int, b: int) -> float:
    """1 for the same rank, falling to 0 as they part by a quarter of the larger (plus ten places)."""
    return max(0.0, 1 - abs(a - b) / (0.25 * max(a, b) + 10))


def _price_evidence(probe: Probe, candidate: Candidate, window: timedelta) -> dict | None:
    """The candidate's quote from another source nearest the probe's moment, within the window, compared."""
    if probe.as_of is None or not probe.price:
        return None
    near = [
        (abs(as_of - probe.as_of), source, price)
        for source, as_of, price in candidate.prices
        if source != probe.source and price and abs(as_of - probe.as_of) <= window
    ]
    if not near:
        return None
    apart, source, price = min(near)
    ratio = max(price, probe.price) / min(price, probe.price)
    if ratio <= PRICE_AGREE_RATIO:
        points = PRICE_AGREES
    elif ratio >= PRICE_DISAGREE_RATIO:
        points = PRICE_DISAGREES
    else:
        points = 0.0
    value = {"ratio": f"{ratio:.4f}", "source": source, "seconds_apart": int(apart.total_seconds())}
    return {"value": value, "points": points}


def _partial_decide(probe: Probe, pool: Pool, taken: set[int]) -> Decision:
    """A record with only a symbol, or only a name: the coin whose prices agree, else the best-ranked one."""
    by_symbol = bool(probe.symbol_key)
    rule = MatchRule.SYMBOL_ONLY if by_symbol else MatchRule.NAME_ONLY

    def fits(candidate: Candidate) -> bool:
        keys = {k.symbol_key for k in candidate.known} if by_symbol else {k.name_key for k in candidate.known}
        if not by_symbol:
            keys |= {k.slug_key for k in candidate.known}
        return (probe.symbol_key if by_symbol else probe.name_key) in keys

    fitting = [c for c in pool.for_probe(probe) if fits(c) and _eligible(probe, c, taken)]
    priced = {c.coin.pk: _price_evidence(probe, c, pool.window) for c in fitting}
    fitting = [c for c in fitting if (priced[c.coin.pk] or {}).get("points", 0) >= 0]
    agreeing = [c for c in fitting if (priced[c.coin.pk] or {}).get("points", 0) > 0]
    named = [c for c in fitting if not c.coin.provisional]
    pick_from = agreeing or named or fitting
    ranked = sorted(pick_from, key=lambda c: (c.coin.rank is None, c.coin.rank or 0, c.coin.pk))
    if agreeing:
        confidence = PARTIAL_PRICE_AGREES if len(agreeing) == 1 else PARTIAL_AMBIGUOUS
    elif named:
        confidence = PARTIAL_UNIQUE if len(named) == 1 else PARTIAL_AMBIGUOUS
    else:
        confidence = PROVISIONAL_NEW
    chosen = ranked[0] if ranked else None
    runner = ranked[1] if len(ranked) > 1 else None
    if chosen is not None:
        taken.add(chosen.coin.pk)

    def explain(c: Candidate) -> dict:
        parts = {"symbol" if by_symbol else "name": {"value": True}}
        if priced[c.coin.pk]:
            parts["price"] = priced[c.coin.pk]
        return {"coin": c.coin.slug, "rank": c.coin.rank, "evidence": parts}

    evidence = {
        "rule": rule,
        "candidates": len(fitting),
        "chosen": None if chosen is None else explain(chosen),
        "runner_up": None if runner is None else explain(runner),
        "why": "only a symbol" if by_symbol else "only a name",
    }
    return Decision(
        probe=probe,
        coin=None if chosen is None else chosen.coin,
        rule=rule,
        score=confidence,
        confidence=confidence,
        evidence=evidence,
        runner_up=None if runner is None else runner.coin,
        runner_up_score=None if runner is None else PARTIAL_AMBIGUOUS,
    )


# --- extending a listing of the same source: ids that say less (a ticker) or more (ticker and name) ------


def _listings_extended(*, source: str, probes: Sequence[Probe], pool: Pool) -> dict[str, int]:
    """Records whose id only adds to, or leaves out part of, an existing listing of this source: that listing's coin.

    A legacy CSV's ids are made of what its columns say ("btc", "btc:bitcoin", ":bitcoin"): a file that gains a
    name column describes the same coins, not new ones. The listing takes the fuller id (unless reviewed).
    Two API ids that both give a symbol and a name are never one listing: they differ by the source's account.
    """
    listings = {
        (k.source_id): (candidate.coin.pk, k)
        for candidate in pool.candidates.values()
        for k in candidate.known
        if k.source == source
    }
    if not listings:
        return {}
    mapped: dict[str, int] = {}
    fuller: list[tuple[str, Probe]] = []
    for probe in probes:
        fits = [
            (coin_id, known)
            for coin_id, known in listings.values()
            if _compatible(probe.symbol_key, known.symbol_key)
            and _compatible(probe.name_key, known.name_key)
            and not (probe.symbol_key and known.symbol_key and probe.name_key and known.name_key)
        ]
        if len(fits) == 1:
            coin_id, known = fits[0]
            mapped[probe.source_id] = coin_id
            if len(probe.symbol_key) + len(probe.name_key) > len(known.symbol_key) + len(known.name_key):
                fuller.append((known.source_id, probe))
    for old_id, probe in fuller:
        SourceListing.objects.filter(source=source, source_id=old_id, reviewed_at__isnull=True).update(
            source_id=probe.source_id,
            symbol=probe.symbol,
            symbol_key=probe.symbol_key,
            name=probe.name,
            name_key=probe.name_key,
            slug_key=probe.slug_key,
            updated_at=timezone.now(),
        )
    return mapped


def _compatible(a: str, b: str) -> bool:
    return not a or not b or a == b


# --- writing the decisions -------------------------------------------------------------------------


def decisions_apply(*, decisions: Sequence[Decision]) -> dict[str, Coin]:
    """Create the new coins and let full records adopt the provisional coins they chose; source_id -> coin."""
    new_coins: list[Coin] = []
    adopted: list[Coin] = []
    coins: dict[str, Coin] = {}
    for decision in decisions:
        probe, coin = decision.probe, decision.coin
        if coin is None:
            coin = Coin(
                symbol=probe.symbol,
                symbol_key=probe.symbol_key,
                name=probe.name or probe.symbol,
                name_key=probe.name_key,
                rank=probe.rank,
                provisional=probe.partial,
            )
            new_coins.append(coin)
        elif coin.provisional and not probe.partial:
            coin.symbol, coin.symbol_key = probe.symbol, probe.symbol_key
            coin.name, coin.name_key = probe.name, probe.name_key
            coin.provisional = False
            coin.updated_at = timezone.now()
            adopted.append(coin)
        coins[probe.source_id] = coin
    _slugs_assign(new_coins + adopted)
    Coin.objects.bulk_create(new_coins)
    if adopted:
        Coin.objects.bulk_update(
            adopted, ["slug", "symbol", "symbol_key", "name", "name_key", "provisional", "updated_at"]
        )
    return coins


def _listing_new(decision: Decision, coin: Coin) -> SourceListing:
    probe = decision.probe
    return SourceListing(
        source=probe.source,
        source_id=probe.source_id,
        coin=coin,
        symbol=probe.symbol,
        name=probe.name,
        symbol_key=probe.symbol_key,
        name_key=probe.name_key,
        slug_key=probe.slug_key,
        **decision_fields(decision),
    )


def decision_fields(decision: Decision) -> dict:
    """A listing's fields that say how it was matched."""
    return {
        "match_rule": decision.rule,
        "confidence": Decimal(f"{decision.confidence:.2f}"),
        "score": Decimal(f"{decision.score:.2f}"),
        "evidence": decision.evidence,
        "runner_up": decision.runner_up,
        "runner_up_score": None if decision.runner_up_score is None else Decimal(f"{decision.runner_up_score:.2f}"),
    }


def _slugs_assign(coins: list[Coin]) -> None:
    """A readable unique slug per coin: its name, then name-symbol, then a number."""
    if not coins:
        return
    wanted = [slugify(c.name)[:100] or slugify(c.symbol) or "coin" for c in coins]
    with_symbol = [f"{base}-{slugify(c.symbol)}".rstrip("-")[:110] for base, c in zip(wanted, coins, strict=True)]
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
    """Keep each coin's best rank, which weighs in matches; write only what improves."""
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
