"""Candles: open, high, low and close per coin, series and day, written set-based after each run.

A run's quotes name the days they fall in; for each of those (coin, day) every series' candle is computed
again from its points in the day (coins.history.series_points_sql: the quotes by quote_coin_as_of_idx, one
range a day, and the consensus prices). So a run costs what it touched, however long the history, and
/coins/{slug}/history reads a year of a series as 365 rows. Hours are not stored: they are grouped from their
points when read. Runs after coins.consensus (the consensus series reads its rows).
"""

from django.conf import settings
from django.db import connection, transaction

from coins.history import CANDLE_FIELDS, STORED, candle_json_sql, ohlc_sql, series_points_sql
from coins.intervals import interval_end_sql, interval_start_sql

_DAYS = "candle_days"
# The touched days' quotes, read once: both the sources' series and the lone intervals' consensus points
# group them (two index ranges a day were 18 ms each of a first load's 200).
_QUOTES = "candle_quotes"
_WRITTEN = (*CANDLE_FIELDS, "body")
_UPSERT = "ON CONFLICT (coin_id, interval, starts_at, series) DO UPDATE SET " + ", ".join(
    f"{field} = excluded.{field}" for field in _WRITTEN
)
_COLUMNS = "coin_id, interval, starts_at, series, " + ", ".join(_WRITTEN)
# The days read their quotes and consensus rows as index ranges, one a day: PostgreSQL can hash or merge those
# joins on the coin alone, and right after a first load (its statistics not yet knowing the new rows) it merged
# each day of a coin with every row of the coin: 190 s for the 41,680 days of a 1,000,000-row CSV, 9.9 s as
# ranges. An hourly run touches a day or two a coin, which ranges serve best too.
_JOIN_BY_INDEX = ("enable_hashjoin", "enable_mergejoin")
_JOINS_OFF = "SELECT set_config(name, 'off', true) FROM unnest(%s::text[]) AS name"
_JOINS_RESET = "SELECT set_config(name, reset_val, true) FROM pg_settings WHERE name = ANY(%s)"


def candles_refresh(*, run_id: int | None) -> int:
    """Write the candles of every day the run wrote a quote in; with no run, of every quote there is (the
    rebuild). The number of candles written."""
    return _candles_write(where=" WHERE run_id = %s" if run_id else "", params=[run_id] if run_id else [])


def candles_rebuild(*, coin_ids: list[int]) -> int:
    """Write every candle of these coins again, their candles dropped first: after quotes moved from one coin
    to another (a listing re-pointed), a day may have lost a series or gained one. The number written."""
    where = f" WHERE coin_id IN ({', '.join(['%s'] * len(coin_ids))})"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM coins_candle{where}", coin_ids)
        return _candles_write(where=where, params=coin_ids)


def _candles_write(*, where: str, params: list) -> int:
    """Upsert the candles of every day a quote `where` selects falls in."""
    (interval,) = STORED
    day = interval_start_sql(column="as_of", interval=interval)
    touched = f"SELECT DISTINCT coin_id, {day} AS starts_at FROM coins_quote{where}"
    postgres = connection.vendor == "postgresql"
    with transaction.atomic(), connection.cursor() as cursor:
        for table in (_DAYS, _QUOTES):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TEMPORARY TABLE {_DAYS} AS {touched}", params)
        if postgres:
            cursor.execute(f"ANALYZE {_DAYS}")
            cursor.execute(_JOINS_OFF, [list(_JOIN_BY_INDEX)])
        end = interval_end_sql(column="d.starts_at", interval=interval)
        cursor.execute(
            f"""CREATE TEMPORARY TABLE {_QUOTES} AS
            SELECT q.coin_id, q.source, q.as_of, q.price_usd, q.market_cap_usd, q.volume_24h_usd
            FROM {_DAYS} d JOIN coins_quote q ON q.coin_id = d.coin_id AND q.as_of >= d.starts_at AND q.as_of < {end}"""
        )
        cursor.execute(_upsert(interval=interval), [settings.CONSENSUS_INTERVAL])
        written = max(cursor.rowcount, 0)
        # A local setting lasts to the end of the outermost transaction, which may be a caller's.
        if postgres:
            cursor.execute(_JOINS_RESET, [list(_JOIN_BY_INDEX)])
        for table in (_DAYS, _QUOTES):
            cursor.execute(f"DROP TABLE {table}")
    return written


def _upsert(*, interval: str) -> str:
    end = interval_end_sql(column="d.starts_at", interval=interval)
    consensus = f"""(SELECT c.* FROM {_DAYS} d JOIN coins_consensus c
        ON c.coin_id = d.coin_id AND c.interval = %s AND c.starts_at >= d.starts_at AND c.starts_at < {end})"""
    # A day holds its consensus intervals whole (an hour or the day), so its quotes tell a lone source's.
    points = series_points_sql(interval=interval, quotes=_QUOTES, consensus=consensus, lone=_QUOTES)
    # SQLite needs the WHERE to read ON CONFLICT as the upsert's, not a join's.
    return (
        f"INSERT INTO coins_candle ({_COLUMNS}) SELECT coin_id, '{interval}', starts_at, series, "
        f"{', '.join(CANDLE_FIELDS)}, {candle_json_sql()} FROM ({ohlc_sql(points)}) o WHERE true {_UPSERT}"
    )
