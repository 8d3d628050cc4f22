"""Made-up CoinPaprika and CoinCap data for the local source server: a coin universe and each API's item shape.

Pure and deterministic for a seed, so a test, a demo and a benchmark that ask for the same universe see the same
coins. The real coins of `devtools.market_universe` come first, at the prices its CSV has at the same moment;
invented ones follow, with the awkward cases real feeds have: symbols shared by several coins, dust prices, no max
supply, no 24h change.
"""

import hashlib
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal
from typing import Any

from django.utils.text import slugify

from devtools.market_universe import MARKET_MOMENT, REAL_COINS, change_24h_at, price_at, volume_ratio


@dataclass(frozen=True, slots=True)
class MarketCoin:
    rank: int
    symbol: str
    name: str
    coinpaprika_id: str  # "btc-bitcoin"
    coincap_id: str  # "bitcoin"
    price: Decimal
    circulating_supply: Decimal
    total_supply: Decimal
    max_supply: Decimal | None
    volume_24h: Decimal
    percent_change_24h: Decimal | None

    @property
    def market_cap(self) -> Decimal:
        return self.price * self.circulating_supply


_NAME_HEADS = (
    "Nova", "Quantum", "Aether", "Lumen", "Orbit", "Cobalt", "Zephyr", "Vertex", "Nimbus", "Atlas",
    "Helix", "Onyx", "Solis", "Cryo", "Echo", "Falcon", "Granite", "Harbor", "Ion", "Juno",
    "Kite", "Lyra", "Mosaic", "Nebula", "Oracle", "Pixel", "Quasar", "Radiant", "Sable", "Titan",
    "Umbra", "Vortex", "Willow", "Xeno", "Yield", "Zenith", "Amber", "Blaze", "Cipher", "Delta",
)  # fmt: skip
_NAME_TAILS = (
    "Ledger", "Swap", "Chain", "Protocol", "Finance", "Network", "Coin", "Token", "DAO", "Labs",
    "Bridge", "Vault", "Pay", "Verse", "Cash", "Exchange", "Markets", "Play", "AI", "Inu",
    "Link", "Stake", "Credit", "Bit", "Dollar",
)  # fmt: skip
# Symbols that many unrelated real coins carry at once.
_SHARED_SYMBOLS = ("META", "UNI", "LUNA", "ONE", "PEPE", "AI")
_NEIGHBOUR_RATE = 0.1
_MOST_SHARED = 12
# About the market cap of the last real coin listed; the invented ones rank below it.
_TAIL_CAP = 8e8
_TWENTY_DIGITS = Context(prec=20)
# Every coin's history starts before this, and its all-time high falls before it too.
_PAPRIKA_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
# Typical spread, in percent, of CoinPaprika's price change over each horizon; 24h comes from the coin.
_PAPRIKA_CHANGE_SPREADS = (
    ("15m", 0.2), ("30m", 0.3), ("1h", 0.5), ("6h", 1.5), ("12h", 2.5), ("24h", None),
    ("7d", 8), ("30d", 15), ("1y", 60),
)  # fmt: skip


def coin_universe(*, coins: int, seed: int, as_of: datetime = MARKET_MOMENT) -> list[MarketCoin]:
    """`coins` coins by rank: the real ones first, priced as the market universe has them at `as_of` (so
    the shipped CSV agrees), then invented ones whose market cap falls with rank."""
    rng = random.Random(seed)
    universe: list[MarketCoin] = []
    names: set[str] = set()
    symbol_uses: Counter[str] = Counter()
    paprika_ids: set[str] = set()
    coincap_ids: set[str] = set()
    for rank in range(1, coins + 1):
        if rank <= len(REAL_COINS):
            real = REAL_COINS[rank - 1]
            symbol, name, max_supply = real.symbol, real.name, real.max_supply
            price, change = price_at(real, as_of), change_24h_at(real, as_of)
            circulating = real.circulating
            volume_share = volume_ratio(real)
        else:
            change = rng.gauss(0, 4)
            name = _invented_name(rng=rng, taken=names)
            nearby = [coin.symbol for coin in universe[-10:]]
            symbol = _invented_symbol(name=name, rank=rank, rng=rng, uses=symbol_uses, nearby=nearby)
            price = _invented_price(rng)
            circulating = _TAIL_CAP * (len(REAL_COINS) / rank) ** 1.5 * rng.uniform(0.9, 1.1) / price
            max_supply = None if rng.random() < 0.3 else circulating * rng.uniform(1, 3)
            change = None if rng.random() < 0.05 else change
            volume_share = rng.uniform(0.005, 0.3)
        names.add(name)
        symbol_uses[symbol] += 1
        universe.append(
            MarketCoin(
                rank=rank,
                symbol=symbol,
                name=name,
                coinpaprika_id=_unique(f"{symbol.lower()}-{slugify(name)}", taken=paprika_ids),
                coincap_id=_unique(slugify(name), taken=coincap_ids),
                price=_digits(price),
                circulating_supply=Decimal(round(circulating)),
                total_supply=Decimal(round(_total_supply(circulating, max_supply=max_supply, rng=rng))),
                max_supply=None if max_supply is None else Decimal(round(max_supply)),
                volume_24h=_digits(price * circulating * volume_share),
                percent_change_24h=None if change is None else _digits(change),
            )
        )
    return universe


def coins_repriced(*, coins: Sequence[MarketCoin], fraction: float, seed: int) -> list[MarketCoin]:
    """A copy where `fraction` of the coins (at least one, when above 0) moved by 0.1% to 5%, up or down."""
    rng = random.Random(seed)
    moved = set(rng.sample(range(len(coins)), min(len(coins), math.ceil(len(coins) * fraction))))
    return [
        replace(coin, price=_digits(float(coin.price) * (1 + rng.choice((-1, 1)) * rng.uniform(0.001, 0.05))))
        if i in moved
        else coin
        for i, coin in enumerate(coins)
    ]


def coinpaprika_ticker(*, coin: MarketCoin, as_of: datetime) -> dict[str, Any]:
    """One item of CoinPaprika's `GET /v1/tickers`, numbers as JSON numbers."""
    # What the universe does not hold (beta, all-time high, other horizons) is fixed per coin, so it holds still
    # across ticks and reprices.
    extra = random.Random(coin.coinpaprika_id)
    price = float(coin.price)
    # CoinPaprika has no null change: its spec's examples report a missing one as 0.
    change_24h = float(coin.percent_change_24h or 0)
    first_data_at = _PAPRIKA_EPOCH - timedelta(days=extra.randint(0, 4000))
    ath_price = None if extra.random() < 0.1 else price * extra.uniform(1.05, 4)
    ath_date = first_data_at + (_PAPRIKA_EPOCH - first_data_at) * extra.random()
    changes = {
        f"percent_change_{horizon}": round(change_24h if spread is None else extra.gauss(0, spread), 2)
        for horizon, spread in _PAPRIKA_CHANGE_SPREADS
    }
    return {
        "id": coin.coinpaprika_id,
        "name": coin.name,
        "symbol": coin.symbol,
        "rank": coin.rank,
        "circulating_supply": int(coin.circulating_supply),
        "total_supply": int(coin.total_supply),
        "max_supply": int(coin.max_supply or 0),  # 0 is how CoinPaprika says unlimited
        "beta_value": round(extra.uniform(0.3, 1.8), 6),
        "first_data_at": _iso(first_data_at),
        "last_updated": _iso(as_of),
        "quotes": {
            "USD": {
                "price": price,
                "volume_24h": float(coin.volume_24h),
                "volume_24h_change_24h": round(extra.gauss(0, 15), 2),
                "market_cap": int(coin.market_cap),
                "market_cap_change_24h": round(change_24h, 2),
                **changes,
                "ath_price": ath_price,
                "ath_date": None if ath_price is None else _iso(ath_date),
                "percent_from_price_ath": None if ath_price is None else round((price / ath_price - 1) * 100, 2),
            }
        },
    }


def coincap_asset(*, coin: MarketCoin) -> dict[str, Any]:
    """One item of CoinCap v3's `GET /v3/assets` `data`, every number a string."""
    address = hashlib.sha1(coin.coincap_id.encode(), usedforsecurity=False).hexdigest()
    vwap_ratio = Decimal(str(round(random.Random(coin.coincap_id).uniform(0.97, 1.03), 6)))
    return {
        "id": coin.coincap_id,
        "rank": str(coin.rank),
        "symbol": coin.symbol,
        "name": coin.name,
        "supply": _coincap_text(coin.circulating_supply),
        "maxSupply": _coincap_text(coin.max_supply),
        "marketCapUsd": _coincap_text(coin.market_cap),
        "volumeUsd24Hr": _coincap_text(coin.volume_24h),
        "priceUsd": _coincap_text(coin.price),
        "changePercent24Hr": _coincap_text(coin.percent_change_24h),
        "vwap24Hr": _coincap_text(coin.price * vwap_ratio),
        "explorer": f"https://etherscan.io/token/0x{address}",
        "tokens": {},
    }


def _invented_name(*, rng: random.Random, taken: set[str]) -> str:
    heads = rng.sample(_NAME_HEADS, 2 if rng.random() < 0.4 else 1)
    base = " ".join([*heads, rng.choice(_NAME_TAILS)])
    name, version = base, 1
    while name in taken:
        version += 1
        name = f"{base} V{version}"
    return name


def _invented_symbol(*, name: str, rank: int, rng: random.Random, uses: Counter[str], nearby: list[str]) -> str:
    # Clones and forks reuse symbols: every eighth invented coin takes a famous shared one in turn, and some take
    # a neighbour's, up to a dozen coins a symbol.
    invented = rank - len(REAL_COINS)
    if invented % 8 == 0:
        shared = _SHARED_SYMBOLS[(invented // 8 - 1) % len(_SHARED_SYMBOLS)]
    elif rng.random() < _NEIGHBOUR_RATE:
        shared = rng.choice(nearby)
    else:
        shared = None
    if shared is not None and uses[shared] < _MOST_SHARED:
        return shared
    words = [word.upper() for word in name.split() if word.isalpha()]
    initials = "".join(word[0] for word in words)
    for candidate in (words[0][:4], initials + words[-1][1:3], words[0][:3] + words[-1][:2]):
        if candidate not in uses:
            return candidate
    return f"{words[0][:3]}{rank}"  # letters then the rank: unlike any symbol made above, and unique


def _invented_price(rng: random.Random) -> float:
    # One coin in ten trades at dust prices, where float rounding and scientific notation bite.
    if rng.random() < 0.1:
        return 10 ** rng.uniform(-9, -5)
    return 10 ** rng.uniform(-4, 3)


def _total_supply(circulating: float, *, max_supply: float | None, rng: random.Random) -> float:
    roll = rng.random()
    if roll < 0.05:  # real feeds do report a total below the circulating supply now and then
        return circulating * rng.uniform(0.9, 1)
    if roll < 0.5:
        return circulating
    return min(circulating * rng.uniform(1, 1.6), max_supply or math.inf)


def _unique(base: str, *, taken: set[str]) -> str:
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug


def _digits(value: float) -> Decimal:
    # The float's exact binary value to 20 digits: as long a tail as real feeds print, and the same on every machine.
    return _TWENTY_DIGITS.create_decimal(value)


def _coincap_text(value: Decimal | None) -> str | None:
    # CoinCap writes 16 decimals; a dust price gets more, so it keeps ten significant digits.
    if value is None:
        return None
    places = 16 if value == 0 else max(16, 10 - value.adjusted())
    return f"{value:.{places}f}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
