"""Reads of a coin's price history: open, high, low and close per interval, per source and for the consensus.

An hour is grouped from the quotes and consensus prices in it, read as index ranges: stored, an hour's candle
would repeat its quote (a source quotes about once an hour) and cost a first load as much to write as the
quote did. A day is stored (coins.candles), so a year of a series is 365 rows: a window [from, to) reads
the stored days inside it, a range of the candle table's unique index, and groups a part-day at either end
(a `from` or `to` off the day) from its quotes as the days were. On PostgreSQL each candle's JSON is
written in the database (candle_json_sql), so a year of a series is one string joined from 365 there, never
a value-by-value trip through Python.

The consensus series has a point per consensus interval: its stored price (coins.consensus) where two or
more sources quoted the coin, and where one source did, that source's last price in it (series_points_sql).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection

from coins.intervals import interval_ceil, interval_floor, interval_start_sql, moment_parsed
from coins.models import Quote
from core.renderers import RawJSON

CONSENSUS_SERIES = "consensus"
# The longest window one request may ask for, per interval: about 750 points a series at most.
MAX_SPAN = {"1h": timedelta(days=31), "1d": timedelta(days=366)}
DEFAULT_SPAN = {"1h": timedelta(days=7), "1d": timedelta(days=365)}
# The intervals whose candles coins.candles stores; the others are grouped from their points when read.
STORED = ("1d",)
# A candle's figures, in the order of its columns: the table, the rollup, the SQL and the JSON all read this.
CANDLE_FIELDS = ("open", "high", "low", "close", "market_cap_usd", "volume_24h_usd")
_FIGURES = ", ".join(CANDLE_FIELDS)
_PRICES = CANDLE_FIELDS[:4]
# A coin's quotes in [from, to): the parameters coin_id, from, to.
_WINDOW_QUOTES = "(SELECT * FROM coins_quote WHERE coin_id = %s AND as_of >= %s AND as_of < %s)"


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


def ohlc_sql(rows: str, *, lone: bool = False) -> str:
    """SQL grouping `rows` (coin_id, starts_at, series, as_of, then CANDLE_FIELDS) into one candle per coin,
    interval start and series: the first open, the highest high, the lowest low, the last close and figures.
    Quotes come in with their price as all four. With `lone`, each candle also says (lone = 1) whether its
    series is the only one in its interval."""
    # One window, one sort: every figure over the whole partition in time order, one row of it kept. The
    # interval's window partitions by a prefix of the series', so it shares that sort.
    flag = ", CASE WHEN MIN(series) OVER i = MAX(series) OVER i THEN 1 END AS lone" if lone else ""
    interval_window = "i AS (PARTITION BY coin_id, starts_at), " if lone else ""
    return f"""
    SELECT coin_id, starts_at, series, {_FIGURES}{", lone" if lone else ""} FROM (
        SELECT coin_id, starts_at, series, FIRST_VALUE(open) OVER w AS open, MAX(high) OVER w AS high,
               MIN(low) OVER w AS low, LAST_VALUE(close) OVER w AS close,
               LAST_VALUE(market_cap_usd) OVER w AS market_cap_usd, LAST_VALUE(volume_24h_usd) OVER w AS volume_24h_usd,
               ROW_NUMBER() OVER w AS position{flag}
        FROM ({rows}) r
        WINDOW {interval_window}w AS (PARTITION BY coin_id, starts_at, series ORDER BY as_of
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
    ) o WHERE position = 1"""


def series_points_sql(*, interval: str, quotes: str | None, consensus: str | None, lone: str | None) -> str:
    """SQL of points (coin_id, starts_at, series, as_of, then CANDLE_FIELDS) for ohlc_sql, each in the `interval`
    it falls in: every quote of `quotes` in its source's series; in the consensus series the price of each
    consensus row of `consensus` and, for each consensus interval whose every quote in `lone` is one source's,
    that source's last price. Each argument is a relation of its table's rows (None: none); `lone` holds every
    quote of the intervals it covers. A consensus point's moment is its interval's start."""
    rows = []
    start = interval_start_sql(column="as_of", interval=interval)
    if quotes:
        rows.append(
            f"SELECT coin_id, {start} AS starts_at, source AS series, as_of, price_usd AS open, price_usd AS high,"
            f" price_usd AS low, price_usd AS close, market_cap_usd, volume_24h_usd FROM {quotes} q"
        )
    consensus_point = (
        f"SELECT coin_id, {interval_start_sql(column='starts_at', interval=interval)} AS starts_at,"
        f" '{CONSENSUS_SERIES}' AS series, starts_at AS as_of, price_usd AS open, price_usd AS high,"
        " price_usd AS low, price_usd AS close, NULL AS market_cap_usd, NULL AS volume_24h_usd FROM {relation} c"
    )
    if consensus:
        rows.append(consensus_point.format(relation=consensus))
    if lone:
        # coins.consensus stores no row for an interval one source quoted: its consensus is that source's price.
        of_interval = interval_start_sql(column="as_of", interval=settings.CONSENSUS_INTERVAL)
        rows.append(
            consensus_point.format(
                relation=f"""(SELECT coin_id, starts_at, price_usd FROM (
                    SELECT coin_id, {of_interval} AS starts_at, price_usd, MIN(source) OVER w AS first_source,
                           MAX(source) OVER w AS last_source, ROW_NUMBER() OVER w AS recency
                    FROM {lone} l WINDOW w AS (PARTITION BY coin_id, {of_interval} ORDER BY as_of DESC
                                               ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
                ) s WHERE recency = 1 AND first_source = last_source)"""
            )
        )
    return " UNION ALL ".join(rows)


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
            found.setdefault(name, []).append(Candle(moment_parsed(starts_at), *map(_decimal, figures)))
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
    """The candles of [starts, ends): stored days for its whole days, grouped points for the rest."""
    if interval not in STORED:
        sql, params = _part_sql(coin_id=coin_id, interval=interval, starts=starts, ends=ends, source=source)
        return f"SELECT series, starts_at, {_FIGURES}, {candle_json_sql()} AS body FROM ({sql}) p", params
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
    """[starts, ends) grouped from its points as the stored days are: three index ranges of one coin."""
    window = [coin_id, _moment(starts), _moment(ends)]
    whole = interval_ceil(starts, interval=interval) == starts and interval_ceil(ends, interval=interval) == ends
    if whole and interval == settings.CONSENSUS_INTERVAL and source in ("", CONSENSUS_SERIES):
        return _consensus_intervals_sql(interval=interval, window=window, source=source)
    quotes = consensus = lone = None
    params = []
    if source != CONSENSUS_SERIES:
        only = " AND source = %s" if source else ""
        quotes = f"(SELECT * FROM coins_quote WHERE coin_id = %s AND as_of >= %s AND as_of < %s{only})"
        params += [*window, *([source] if source else [])]
    if source in ("", CONSENSUS_SERIES):
        consensus = (
            "(SELECT * FROM coins_consensus"
            " WHERE coin_id = %s AND starts_at >= %s AND starts_at < %s AND interval = %s)"
        )
        # Every quote of the consensus intervals that start in the window, whole, to tell a lone source's.
        of = settings.CONSENSUS_INTERVAL
        lone = _WINDOW_QUOTES
        params += [
            *window,
            of,
            coin_id,
            _moment(interval_ceil(starts, interval=of)),
            _moment(interval_ceil(ends, interval=of)),
        ]
    return ohlc_sql(series_points_sql(interval=interval, quotes=quotes, consensus=consensus, lone=lone)), params


def _consensus_intervals_sql(*, interval: str, window: list, source: str) -> tuple[str, list]:
    """Whole consensus intervals: a candle each is one interval's quotes, so one sort of the window's quotes
    gives each source's candles and tells which intervals one source alone quoted (their consensus is its close);
    the other intervals' consensus is their stored row. A chart's week (168 hours, three sources) took 5.1 ms of
    PostgreSQL through the points, 4.0 ms this way."""
    candles = ohlc_sql(
        series_points_sql(interval=interval, quotes=_WINDOW_QUOTES, consensus=None, lone=None), lone=True
    )

    def point(price: str) -> str:  # a consensus candle: one price, no market cap or volume
        return f"starts_at, '{CONSENSUS_SERIES}' AS series, {', '.join(f'{price} AS {name}' for name in _PRICES)}, " + (
            "NULL AS market_cap_usd, NULL AS volume_24h_usd"
        )

    rows = [] if source else [f"SELECT starts_at, series, {_FIGURES} FROM candles"]
    rows += [
        f"SELECT {point('close')} FROM candles WHERE lone = 1",
        f"SELECT {point('price_usd')} FROM coins_consensus"
        " WHERE coin_id = %s AND starts_at >= %s AND starts_at < %s AND interval = %s",
    ]
    return f"WITH candles AS ({candles}) {' UNION ALL '.join(rows)}", [*window, *window, interval]


def _moment(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _decimal(value) -> Decimal | None:
    # SQLite answers a REAL or INTEGER for a NUMERIC. A REAL is read to 15 significant digits, as Django reads
    # the column: a stored price's digits, and a median of two (a double's sum) without its last bit's noise.
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(format(value, ".15g") if isinstance(value, float) else value)
