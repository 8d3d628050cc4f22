"""Realistic market data made up from real coins: the shipped legacy CSV and the local source server use it.

Every real coin's price follows one made-up path in time (`price_at`), which both read: the CSV's row for
an hour and the APIs served at that moment agree within a normal spread between venues. Deterministic,
so a fixture, a demo and a benchmark see the same numbers.
"""

import csv
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path


@dataclass(frozen=True, slots=True)
class CoinSeed:
    symbol: str
    name: str
    price: float
    circulating: float
    max_supply: float | None


# Real symbols and names; prices and supplies are round figures of late 2024.
REAL_COINS = tuple(
    CoinSeed(*row)
    for row in (
        ("BTC", "Bitcoin", 97000, 19_790_000, 21_000_000),
        ("ETH", "Ethereum", 3400, 120_400_000, None),
        ("USDT", "Tether", 1.0, 139_000_000_000, None),
        ("XRP", "XRP", 1.4, 57_200_000_000, 100_000_000_000),
        ("BNB", "BNB", 650, 144_000_000, 200_000_000),
        ("SOL", "Solana", 240, 475_000_000, None),
        ("USDC", "USD Coin", 1.0, 38_000_000_000, None),
        ("DOGE", "Dogecoin", 0.40, 147_000_000_000, None),
        ("ADA", "Cardano", 1.05, 35_100_000_000, 45_000_000_000),
        ("TRX", "TRON", 0.20, 86_300_000_000, None),
        ("AVAX", "Avalanche", 45, 409_000_000, 720_000_000),
        ("SHIB", "Shiba Inu", 0.0000245, 589_000_000_000_000, None),
        ("TON", "Toncoin", 6.2, 2_550_000_000, None),
        ("LINK", "Chainlink", 22, 626_000_000, 1_000_000_000),
        ("DOT", "Polkadot", 8.5, 1_520_000_000, None),
        ("BCH", "Bitcoin Cash", 480, 19_810_000, 21_000_000),
        ("SUI", "Sui", 3.6, 2_900_000_000, 10_000_000_000),
        ("XLM", "Stellar", 0.45, 30_100_000_000, 50_001_806_812),
        ("NEAR", "NEAR Protocol", 6.5, 1_210_000_000, None),
        ("LTC", "Litecoin", 105, 75_300_000, 84_000_000),
        ("PEPE", "Pepe", 0.0000201, 420_690_000_000_000, 420_690_000_000_000),
        ("APT", "Aptos", 12.5, 530_000_000, None),
        ("UNI", "Uniswap", 13.5, 600_000_000, 1_000_000_000),
        ("ICP", "Internet Computer", 11.5, 474_000_000, None),
        ("HBAR", "Hedera", 0.30, 38_200_000_000, 50_000_000_000),
        ("DAI", "Dai", 1.0, 5_360_000_000, None),
        ("ETC", "Ethereum Classic", 33, 149_000_000, 210_700_000),
        ("CRO", "Cronos", 0.18, 27_000_000_000, 30_000_000_000),
        ("RENDER", "Render", 8.2, 517_000_000, 644_000_000),
        ("POL", "POL (ex-MATIC)", 0.58, 7_900_000_000, None),
        ("KAS", "Kaspa", 0.15, 25_500_000_000, 28_700_000_000),
        ("TAO", "Bittensor", 520, 7_400_000, 21_000_000),
        ("VET", "VeChain", 0.052, 80_900_000_000, 86_712_634_466),
        ("FIL", "Filecoin", 6.2, 600_000_000, 1_960_000_000),
        ("ARB", "Arbitrum", 0.95, 4_300_000_000, 10_000_000_000),
        ("ATOM", "Cosmos", 8.6, 390_000_000, None),
        ("OP", "Optimism", 2.4, 1_300_000_000, 4_294_967_296),
        ("ALGO", "Algorand", 0.45, 8_300_000_000, 10_000_000_000),
        ("INJ", "Injective", 31, 97_700_000, 100_000_000),
        ("STX", "Stacks", 2.0, 1_510_000_000, 1_818_000_000),
        ("IMX", "Immutable", 1.6, 1_690_000_000, 2_000_000_000),
        ("GRT", "The Graph", 0.28, 9_550_000_000, None),
        ("AAVE", "Aave", 320, 15_000_000, 16_000_000),
        ("MKR", "Maker", 1800, 880_000, 1_005_577),
        ("XMR", "Monero", 195, 18_440_000, None),
        ("THETA", "Theta Network", 2.5, 1_000_000_000, 1_000_000_000),
        ("FTM", "Fantom", 1.05, 2_800_000_000, 3_175_000_000),
        ("RUNE", "THORChain", 5.6, 340_000_000, 500_000_000),
        ("LDO", "Lido DAO", 2.0, 895_000_000, 1_000_000_000),
        ("SAND", "The Sandbox", 0.75, 2_400_000_000, 3_000_000_000),
        ("MANA", "Decentraland", 0.65, 1_930_000_000, None),
        ("AXS", "Axie Infinity", 8.0, 155_000_000, 270_000_000),
        ("EGLD", "MultiversX", 38, 27_800_000, 31_415_926),
        ("FLOW", "Flow", 0.95, 1_550_000_000, None),
        ("XTZ", "Tezos", 1.35, 1_020_000_000, None),
        ("EOS", "EOS", 0.95, 1_520_000_000, 2_100_000_000),
        ("NEO", "Neo", 17, 70_500_000, 100_000_000),
        ("KCS", "KuCoin Token", 12, 120_000_000, 170_000_000),
        ("ZEC", "Zcash", 55, 16_300_000, 21_000_000),
        ("DASH", "Dash", 42, 12_100_000, 18_920_000),
        ("CAKE", "PancakeSwap", 2.7, 286_000_000, 450_000_000),
        ("IOTA", "IOTA", 0.33, 3_500_000_000, 4_600_000_000),
        ("CHZ", "Chiliz", 0.11, 8_800_000_000, 8_888_888_888),
        ("CRV", "Curve DAO Token", 1.0, 1_250_000_000, 3_030_000_000),
        ("COMP", "Compound", 85, 8_800_000, 10_000_000),
        ("SNX", "Synthetix", 2.9, 340_000_000, None),
        ("1INCH", "1inch Network", 0.45, 1_300_000_000, 1_500_000_000),
        ("BAT", "Basic Attention Token", 0.27, 1_490_000_000, 1_500_000_000),
        ("ENJ", "Enjin Coin", 0.28, 1_780_000_000, 2_000_000_000),
        ("ZIL", "Zilliqa", 0.027, 19_100_000_000, 21_000_000_000),
        ("QNT", "Quant", 125, 14_500_000, 14_612_493),
        ("WIF", "dogwifhat", 3.1, 999_000_000, 998_900_000),
        ("BONK", "Bonk", 0.000038, 75_000_000_000_000, 93_000_000_000_000),
        ("FLOKI", "FLOKI", 0.00022, 9_600_000_000_000, 10_000_000_000_000),
        ("JUP", "Jupiter", 1.0, 1_350_000_000, 10_000_000_000),
        ("SEI", "Sei", 0.55, 4_200_000_000, 10_000_000_000),
        ("HNT", "Helium", 7.0, 171_000_000, 223_000_000),
        ("GALA", "Gala", 0.042, 38_000_000_000, 50_000_000_000),
        ("MINA", "Mina", 0.75, 1_180_000_000, None),
        ("XEC", "eCash", 0.000045, 19_700_000_000_000, 21_000_000_000_000),
    )
)

# The moment the local source server serves by default, and the CSV's last hour: the seed prices hold here.
MARKET_MOMENT = datetime(2025, 7, 1, tzinfo=UTC)
# The slow swings of a price, each (period in hours, amplitude as a log-fraction), with a phase per coin;
# a stablecoin swings a hundredth as much.
_SWINGS = ((24 * 29.0, 0.06), (24 * 6.3, 0.03), (26.5, 0.012))
_HOURLY_NOISE = 0.003
_STABLE_DAMPING = 0.01
# What separates two venues' prices for one coin at one moment.
VENUE_SPREAD = 0.0015

CSV_HEADER = ("Rank", "Ticker", "Name", "Price", "MarketCap", "Volume24h", "Change24h", "Date", "Source")
_CSV_PROVIDERS = ("coingecko", "coinmarketcap", "cryptocompare")


def is_stable(coin: CoinSeed) -> bool:
    return coin.price == 1.0


def price_at(coin: CoinSeed, moment: datetime) -> float:
    """The coin's reference price at `moment` (to the hour): its seed price at MARKET_MOMENT, swinging around it."""
    hours = math.floor((moment - MARKET_MOMENT).total_seconds() / 3600)
    phases = random.Random(f"phase:{coin.symbol}")
    swing = 0.0
    for period, amplitude in _SWINGS:
        phase = phases.uniform(0, 2 * math.pi)
        swing += amplitude * (math.sin(2 * math.pi * hours / period + phase) - math.sin(phase))
    swing += random.Random(f"noise:{coin.symbol}:{hours}").gauss(0, _HOURLY_NOISE) if hours else 0.0
    return coin.price * math.exp(swing * (_STABLE_DAMPING if is_stable(coin) else 1))


def change_24h_at(coin: CoinSeed, moment: datetime) -> float:
    """Percent change of the reference price over the 24 hours to `moment`."""
    return (price_at(coin, moment) / price_at(coin, moment - timedelta(hours=24)) - 1) * 100


def volume_ratio(coin: CoinSeed) -> float:
    """The coin's 24h volume as a share of its market cap, fixed per coin."""
    return random.Random(f"volume:{coin.symbol}").uniform(0.02, 0.12)


def legacy_csv_write(*, path: Path, rows: int, seed: int) -> int:
    """Write a legacy CSV of `rows` quotes (real coins, one hourly series each); returns rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for row in legacy_csv_rows(rows=rows, seed=seed):
            writer.writerow(row)
            written += 1
    return written


def legacy_csv_rows(*, rows: int, seed: int) -> Iterator[tuple[str, ...]]:
    """Rows oldest first, every coin at every hour up to MARKET_MOMENT: the reference price as one of the
    legacy providers quoted it (within the venue spread), cap from supply, volume from cap, the coin's rank."""
    rng = random.Random(seed)
    coins = REAL_COINS[: max(1, min(len(REAL_COINS), rows // 5))]
    hours = math.ceil(rows / len(coins))
    providers = [rng.choice(_CSV_PROVIDERS) for _ in coins]
    # The first hour is the one cut short, so the last (MARKET_MOMENT) holds every coin.
    skipped = hours * len(coins) - rows
    for hour in range(hours):
        moment = MARKET_MOMENT - timedelta(hours=hours - 1 - hour)
        for i, coin in enumerate(coins):
            if hour * len(coins) + i < skipped:
                continue
            price = price_at(coin, moment) * (1 + rng.uniform(-VENUE_SPREAD, VENUE_SPREAD))
            cap = price * coin.circulating
            volume = cap * volume_ratio(coin) * rng.uniform(0.9, 1.1)
            yield (
                str(i + 1),
                coin.symbol,
                coin.name,
                _price_text(price),
                _money_text(cap, grouped=rng.random() < 0.05),
                "" if rng.random() < 0.01 else _money_text(volume, grouped=False),
                f"{change_24h_at(coin, moment):.2f}",
                moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                providers[i],
            )


def _price_text(price: float) -> str:
    # Legacy exports wrote sub-cent prices in scientific notation.
    if price < 0.0001:
        return f"{price:.6e}"
    return str(Decimal(f"{price:.10g}"))


def _money_text(amount: float, *, grouped: bool) -> str:
    return f"{amount:,.2f}" if grouped else f"{amount:.2f}"
