"""Reads of a coin's price history: open, high, low and close per interval, per source and for the consensus.

Each series is one statement over the coin's rows in [from, to): a range of quote_coin_as_of_idx
(or of the consensus table's unique index), grouped into intervals in SQL, so a year of hourly
quotes never travels to Python row by row.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection

from coins.consensus import interval_start_sql
from coins.models import Coin, Consensus, Quote

CONSENSUS_SERIES = "consensus"
# The longest window one request may ask for, per interval: about 750 points a series at most.
MAX_SPAN = {"1h": timedelta(days=31), "1d": timedelta(days=366)}
DEFAULT_SPAN = {"1h": timedelta(days=7), "1d": timedelta(days=365)}


@dataclass(frozen=True, slots=True)
class Candle:
    starts_at: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    market_cap_usd: Decimal | None
    volume_24h_usd: Decimal | None


def candle_json(candle: Candle) -> dict:
    """A candle as the API serves it: the moment in UTC, the numbers as exact strings (as DecimalString does).
    Built by hand: a year of daily candles for four series is some 10,000 values, too many for DRF's fields."""
    return {
        "starts_at": candle.starts_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "open": format(candle.open, "f"),
        "high": format(candle.high, "f"),
        "low": format(candle.low, "f"),
        "close": format(candle.close, "f"),
        "market_cap_usd": None if candle.market_cap_usd is None else format(candle.market_cap_usd, "f"),
        "volume_24h_usd": None if candle.volume_24h_usd is None else format(candle.volume_24h_usd, "f"),
    }


# The rows of one series in the window, then the first, extremes and last of each interval.
_OHLC = """
SELECT series, starts_at, open, high, low, close, market_cap_usd, volume_24h_usd FROM (
    SELECT series, starts_at,
           FIRST_VALUE(price_usd) OVER (PARTITION BY series, starts_at ORDER BY as_of) AS open,
           MAX(price_usd) OVER (PARTITION BY series, starts_at) AS high,
           MIN(price_usd) OVER (PARTITION BY series, starts_at) AS low,
           price_usd AS close, market_cap_usd, volume_24h_usd,
           ROW_NUMBER() OVER (PARTITION BY series, starts_at ORDER BY as_of DESC) AS recency
    FROM ({rows}) q
) w WHERE recency = 1 ORDER BY series, starts_at
"""


def coin_history_end(*, coin: Coin, interval: str) -> datetime:
    """The end of the interval of the coin's newest quote (of now if it has none): where a window ends by default."""
    newest = Quote.objects.filter(coin=coin).order_by("-as_of").values_list("as_of", flat=True).first()
    newest = (newest or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if interval == "1d":
        return newest.replace(hour=0) + timedelta(days=1)
    return newest + timedelta(hours=1)


def coin_price_history(
    *, coin: Coin, interval: str, starts: datetime, ends: datetime, source: str = ""
) -> dict[str, list[Candle]]:
    """{series: candles in time order} for each source that quoted the coin in [starts, ends), then
    "consensus"; `source` keeps one of them only."""
    window = [coin.pk, _moment(starts), _moment(ends)]
    series: dict[str, list[Candle]] = {}
    if source != CONSENSUS_SERIES:
        only = " AND source = %s" if source else ""
        rows = (
            f"SELECT source AS series, as_of, price_usd, market_cap_usd, volume_24h_usd,"
            f" {interval_start_sql(column='as_of', interval=interval)} AS starts_at"
            f" FROM {Quote._meta.db_table} WHERE coin_id = %s AND as_of >= %s AND as_of < %s{only}"
        )
        series.update(_candles(rows, [*window, *([source] if source else [])]))
    if source in ("", CONSENSUS_SERIES):
        rows = (
            f"SELECT 'consensus' AS series, starts_at AS as_of, price_usd, NULL AS market_cap_usd,"
            f" NULL AS volume_24h_usd, {interval_start_sql(column='starts_at', interval=interval)} AS starts_at"
            f" FROM {Consensus._meta.db_table}"
            " WHERE coin_id = %s AND starts_at >= %s AND starts_at < %s AND interval = %s"
        )
        series[CONSENSUS_SERIES] = _candles(rows, [*window, settings.CONSENSUS_INTERVAL]).get(CONSENSUS_SERIES, [])
    return series


def _candles(rows: str, params: list) -> dict[str, list[Candle]]:
    with connection.cursor() as cursor:
        cursor.execute(_OHLC.format(rows=rows), params)
        found: dict[str, list[Candle]] = {}
        for name, starts_at, *figures in cursor.fetchall():
            found.setdefault(name, []).append(Candle(_parsed(starts_at), *map(_decimal, figures)))
    return found


def _moment(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _parsed(value) -> datetime:
    # PostgreSQL answers a moment; SQLite the text strftime made, in UTC.
    return value if isinstance(value, datetime) else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _decimal(value) -> Decimal | None:
    # SQLite answers a REAL or INTEGER for a NUMERIC; its shortest repr is the digits it kept.
    return value if value is None or isinstance(value, Decimal) else Decimal(str(value))
