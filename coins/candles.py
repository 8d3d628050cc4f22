"""Candles: open, high, low and close per coin, series and hour or day, written set-based after each run.

A run's quotes name the hours they fall in; for each of those (coin, hour) every source's candle is
computed again from its quotes in the hour (quote_coin_as_of_idx, one range a pair), the consensus's
from the consensus rows of the hour, and then each day holding such an hour from its hourly candles.
So a run costs what it touched, however long the history, and /coins/{slug}/history reads a year of a
series as 365 rows. Runs after coins.consensus (the consensus candles read its rows).
"""

from django.conf import settings
from django.db import connection, transaction

from coins.history import CANDLE_FIELDS, CONSENSUS_SERIES, candle_json_sql, ohlc_sql
from coins.intervals import interval_end_sql, interval_start_sql

_HOURS = "candle_hours"
_WRITTEN = (*CANDLE_FIELDS, "body")
_UPSERT = "ON CONFLICT (coin_id, interval, starts_at, series) DO UPDATE SET " + ", ".join(
    f"{field} = excluded.{field}" for field in _WRITTEN
)
_COLUMNS = "coin_id, interval, starts_at, series, " + ", ".join(_WRITTEN)
# The days read their hourly candles as index ranges, one a day: PostgreSQL can hash or merge that join on the
# coin alone, and right after a first load (its statistics not yet knowing the new candles) it merged each day
# of a coin with every hourly candle of the coin: 190 s for the 41,680 days of a 1,000,000-row CSV, 9.9 s
# as ranges. An hourly run touches a day or two a coin, which ranges serve best too.
_JOIN_BY_INDEX = ("enable_hashjoin", "enable_mergejoin")
_JOINS_OFF = "SELECT set_config(name, 'off', true) FROM unnest(%s::text[]) AS name"
_JOINS_RESET = "SELECT set_config(name, reset_val, true) FROM pg_settings WHERE name = ANY(%s)"


def candles_refresh(*, run_id: int | None) -> int:
    """Write the candles of every hour (and its day) the run wrote a quote in; with no run, of every
    quote there is (the rebuild). The number of candles written."""
    touched = "SELECT DISTINCT coin_id, {hour} AS starts_at FROM coins_quote" + (" WHERE run_id = %s" if run_id else "")
    hour = interval_start_sql(column="as_of", interval="1h")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_HOURS}")
        cursor.execute(f"CREATE TEMPORARY TABLE {_HOURS} AS {touched.format(hour=hour)}", [run_id] if run_id else [])
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {_HOURS}")
        written = 0
        for statement, params, by_index in _statements():
            joins_off = by_index and connection.vendor == "postgresql"
            if joins_off:
                cursor.execute(_JOINS_OFF, [list(_JOIN_BY_INDEX)])
            cursor.execute(statement, params)
            written += cursor.rowcount if cursor.rowcount > 0 else 0
            # A local setting lasts to the end of the outermost transaction, which may be a caller's.
            if joins_off:
                cursor.execute(_JOINS_RESET, [list(_JOIN_BY_INDEX)])
        cursor.execute(f"DROP TABLE {_HOURS}")
    return written


def _statements() -> list[tuple[str, list, bool]]:
    """(statement, parameters, whether its join must be by index ranges), hours first: the days read them."""
    consensus_start = interval_start_sql(column="h.starts_at", interval=settings.CONSENSUS_INTERVAL)
    # Each source's quotes in each touched hour, and the consensus of the hour as a series of one price.
    quotes = f"""
        SELECT h.coin_id, h.starts_at, q.source AS series, q.as_of, q.price_usd AS open, q.price_usd AS high,
               q.price_usd AS low, q.price_usd AS close, q.market_cap_usd, q.volume_24h_usd
        FROM {_HOURS} h JOIN coins_quote q ON q.coin_id = h.coin_id
            AND q.as_of >= h.starts_at AND q.as_of < {interval_end_sql(column="h.starts_at", interval="1h")}"""
    consensus = f"""
        SELECT c.coin_id, {interval_start_sql(column="c.starts_at", interval="1h")}, '{CONSENSUS_SERIES}', c.starts_at,
               c.price_usd, c.price_usd, c.price_usd, c.price_usd, NULL, NULL
        FROM coins_consensus c JOIN (SELECT DISTINCT coin_id, {consensus_start} AS starts_at FROM {_HOURS} h) t
            ON c.coin_id = t.coin_id AND c.starts_at = t.starts_at
        WHERE c.interval = %s"""
    # Each day holding a touched hour, from every hourly candle of the day (quote_coin_as_of_idx's
    # counterpart: the candle table's unique index, coin then moment).
    days = f"""
        SELECT d.coin_id, d.starts_at, c.series, c.starts_at AS as_of, c.open, c.high, c.low, c.close,
               c.market_cap_usd, c.volume_24h_usd
        FROM (SELECT DISTINCT coin_id, {interval_start_sql(column="starts_at", interval="1d")} AS starts_at
              FROM {_HOURS}) d
        JOIN coins_candle c ON c.coin_id = d.coin_id AND c.interval = '1h'
            AND c.starts_at >= d.starts_at AND c.starts_at < {interval_end_sql(column="d.starts_at", interval="1d")}"""
    return [
        (_upsert(interval="1h", rows=f"{quotes} UNION ALL {consensus}"), [settings.CONSENSUS_INTERVAL], False),
        (_upsert(interval="1d", rows=days), [], True),
    ]


def _upsert(*, interval: str, rows: str) -> str:
    figures = ", ".join(CANDLE_FIELDS)
    # SQLite needs the WHERE to read ON CONFLICT as the upsert's, not a join's.
    return (
        f"INSERT INTO coins_candle ({_COLUMNS}) SELECT coin_id, '{interval}', starts_at, series, "
        f"{figures}, {candle_json_sql()} FROM ({ohlc_sql(rows)}) o WHERE true {_UPSERT}"
    )
