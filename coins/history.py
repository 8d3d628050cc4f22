"""Reads of a coin's price history: open, high, low and close per interval, per source and for the consensus.

A window [from, to) is one statement: the stored candles (coins.candles) of the whole intervals inside it, a
range of the candle table's unique index, and for a part-interval at either end (a `from` or `to` off the
hour or the day) the quotes and consensus rows of that part grouped in SQL as the candles were. On
PostgreSQL each candle's JSON is written with it (candle_json_sql), so a year of a series is one string
joined from 365 in the database, never a value-by-value trip through Python.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection

from coins.intervals import interval_ceil, interval_floor, interval_start_sql
from coins.models import Quote
from core.renderers import RawJSON

CONSENSUS_SERIES = "consensus"
# The longest window one request may ask for, per interval: about 750 points a series at most.
MAX_SPAN = {"1h": timedelta(days=31), "1d": timedelta(days=366)}
DEFAULT_SPAN = {"1h": timedelta(days=7), "1d": timedelta(days=365)}
# A candle's figures, in the order of its columns: the table, the rollup, the SQL and the JSON all read this.
CANDLE_FIELDS = ("open", "high", "low", "close", "market_cap_usd", "volume_24h_usd")
_FIGURES = ", ".join(CANDLE_FIELDS)


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
    Built by hand: a year of daily candles for four series is some 10,000 values, too many for DRF's fields.
    PostgreSQL writes the same text itself (candle_json_sql)."""
    figures = {name: getattr(candle, name) for name in CANDLE_FIELDS}
    return {
        "starts_at": candle.starts_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **{name: None if value is None else format(value, "f") for name, value in figures.items()},
    }


def candle_json_sql() -> str:
    """SQL writing candle_json's text from a row of starts_at and CANDLE_FIELDS, on PostgreSQL, where a NUMERIC's
    text is its exact digits as format(Decimal, "f") writes them. On SQLite '': its doubles are formatted in Python.
    Concatenated, not json_build_object: a third of the cost, and every value is a digit string or null."""
    if connection.vendor != "postgresql":
        return "''"
    moment = "'{\"starts_at\":\"' || replace((starts_at AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z\"'"
    figures = [f"',\"{name}\":' || coalesce('\"' || {name}::text || '\"', 'null')" for name in CANDLE_FIELDS]
    return " || ".join([moment, *figures, "'}'"])


def ohlc_sql(rows: str) -> str:
    """SQL grouping `rows` (coin_id, starts_at, series, as_of, then CANDLE_FIELDS) into one candle per coin,
    interval start and series: the first open, the highest high, the lowest low, the last close and figures.
    Quotes come in with their price as all four; hourly candles roll up into days the same way."""
    # One window, one sort: every figure over the whole partition in time order, one row of it kept.
    return f"""
    SELECT coin_id, starts_at, series, {_FIGURES} FROM (
        SELECT coin_id, starts_at, series, FIRST_VALUE(open) OVER w AS open, MAX(high) OVER w AS high,
               MIN(low) OVER w AS low, LAST_VALUE(close) OVER w AS close,
               LAST_VALUE(market_cap_usd) OVER w AS market_cap_usd, LAST_VALUE(volume_24h_usd) OVER w AS volume_24h_usd,
               ROW_NUMBER() OVER w AS position
        FROM ({rows}) r
        WINDOW w AS (PARTITION BY coin_id, starts_at, series ORDER BY as_of
                     ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
    ) o WHERE position = 1"""


def coin_history_end(*, coin_id: int, interval: str) -> datetime:
    """The end of the interval of the coin's newest quote (of now if it has none): where a window ends by default."""
    newest = Quote.objects.filter(coin_id=coin_id).order_by("-as_of").values_list("as_of", flat=True).first()
    newest = (newest or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if interval == "1d":
        return newest.replace(hour=0) + timedelta(days=1)
    return newest + timedelta(hours=1)


def coin_price_history(
    *, coin_id: int, interval: str, starts: datetime, ends: datetime, source: str = ""
) -> dict[str, list[Candle]]:
    """{series: candles in time order} for each source that quoted the coin in [starts, ends), then
    "consensus"; `source` keeps one of them only."""
    rows, params = _window_sql(coin_id=coin_id, interval=interval, starts=starts, ends=ends, source=source)
    found: dict[str, list[Candle]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT series, starts_at, {', '.join(CANDLE_FIELDS)} FROM ({rows}) c ORDER BY {_SERIES_KEY}, starts_at",
            params,
        )
        for name, starts_at, *figures in cursor.fetchall():
            found.setdefault(name, []).append(Candle(_parsed(starts_at), *map(_decimal, figures)))
    if source in ("", CONSENSUS_SERIES):
        found.setdefault(CONSENSUS_SERIES, [])  # asked for, so listed, if empty
    return found


def coin_history_candles_json(
    *, coin_id: int, interval: str, starts: datetime, ends: datetime, source: str = ""
) -> dict[str, list[dict] | RawJSON]:
    """coin_price_history's series as the API serves them (candle_json). On PostgreSQL each stored candle
    carries its JSON text (written with it), joined here into each series' list: no value becomes a Decimal."""
    if connection.vendor != "postgresql":
        series = coin_price_history(coin_id=coin_id, interval=interval, starts=starts, ends=ends, source=source)
        return {name: [candle_json(candle) for candle in candles] for name, candles in series.items()}
    rows, params = _window_sql(coin_id=coin_id, interval=interval, starts=starts, ends=ends, source=source)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT series, '[' || string_agg(body, ',' ORDER BY starts_at) || ']' FROM ({rows}) c"
            f" GROUP BY {_SERIES_KEY} ORDER BY {_SERIES_KEY}",
            params,
        )
        found = {name: RawJSON(text) for name, text in cursor.fetchall()}
    if source in ("", CONSENSUS_SERIES):
        found.setdefault(CONSENSUS_SERIES, RawJSON("[]"))
    return found


# The sources by name, then the consensus. Grouped by the same key it is ordered by, a window's series come
# out of the one sort the grouping needs: no second sort of four long texts.
_SERIES_KEY = f"series = '{CONSENSUS_SERIES}', series"


def _window_sql(*, coin_id: int, interval: str, starts: datetime, ends: datetime, source: str) -> tuple[str, list]:
    """The candles of [starts, ends): stored ones for its whole intervals, computed ones for a part at either end."""
    whole = (interval_ceil(starts, interval=interval), interval_floor(ends, interval=interval))
    parts = [(starts, ends)] if whole[0] >= whole[1] else [(starts, whole[0]), (whole[1], ends)]
    only = " AND series = %s" if source else ""
    statements = [
        f"SELECT series, starts_at, {_FIGURES}, body FROM coins_candle"
        f" WHERE coin_id = %s AND interval = %s AND starts_at >= %s AND starts_at < %s{only}"
    ]
    params = [coin_id, interval, _moment(whole[0]), _moment(whole[1]), *([source] if source else [])]
    for part_starts, part_ends in parts:
        if part_starts < part_ends:
            sql, part_params = _part_sql(
                coin_id=coin_id, interval=interval, starts=part_starts, ends=part_ends, source=source
            )
            statements.append(f"SELECT series, starts_at, {_FIGURES}, {candle_json_sql()} AS body FROM ({sql}) p")
            params += part_params
    return " UNION ALL ".join(statements), params


def _part_sql(*, coin_id: int, interval: str, starts: datetime, ends: datetime, source: str) -> tuple[str, list]:
    """A part of one interval, from the quotes and consensus rows in it, grouped as the stored candles are."""
    window = [coin_id, _moment(starts), _moment(ends)]
    rows, params = [], []
    if source != CONSENSUS_SERIES:
        only = " AND source = %s" if source else ""
        rows.append(
            f"SELECT coin_id, {interval_start_sql(column='as_of', interval=interval)} AS starts_at, source AS series,"
            " as_of, price_usd AS open, price_usd AS high, price_usd AS low, price_usd AS close,"
            f" market_cap_usd, volume_24h_usd FROM coins_quote WHERE coin_id = %s AND as_of >= %s AND as_of < %s{only}"
        )
        params += [*window, *([source] if source else [])]
    if source in ("", CONSENSUS_SERIES):
        rows.append(
            f"SELECT coin_id, {interval_start_sql(column='starts_at', interval=interval)}, '{CONSENSUS_SERIES}',"
            " starts_at, price_usd, price_usd, price_usd, price_usd, NULL, NULL FROM coins_consensus"
            " WHERE coin_id = %s AND starts_at >= %s AND starts_at < %s AND interval = %s"
        )
        params += [*window, settings.CONSENSUS_INTERVAL]
    return ohlc_sql(" UNION ALL ".join(rows)), params


def _moment(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _parsed(value) -> datetime:
    # PostgreSQL answers a moment; SQLite a naive one in UTC for a stored column, the text strftime made for a part.
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _decimal(value) -> Decimal | None:
    # SQLite answers a REAL or INTEGER for a NUMERIC; its shortest repr is the digits it kept.
    return value if value is None or isinstance(value, Decimal) else Decimal(str(value))
