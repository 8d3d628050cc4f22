"""Consensus: one price per coin and interval from every source, written set-based after each run.

For each (coin, interval) a run wrote a quote in, the last quote of each source in the interval
is taken; their median is the consensus, (max - min) / median its spread, and a source further
than CONSENSUS_OUTLIER_PCT from the median is the interval's outlier. One pass into a temporary table, then
three writes from it, over the intervals the run touched only (the run's quotes by their run index, then the
quotes of the runs of consecutive intervals they fall in, quote_as_of_id_idx), so a run costs the same however
long the history. The same SQL
runs on PostgreSQL, where NUMERIC keeps every digit, and on the embedded SQLite. When quotes move between
coins (a listing re-pointed), consensus_rebuild computes those coins' intervals again from their quotes.
"""

from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from coins.intervals import exact_sql, interval_start_sql, ranges_bounds, ranges_sql

# Each touched interval's sources, computed once and read by the three writes.
_MEMBERS = "consensus_members"


def _run_quoted_sql(interval: str, *, bounds: list) -> str:
    """WITH ... quoted: every quote of each interval the run wrote a quote in, within the ranges of `bounds`
    (ranges_bounds; the parameters are the run's id, then them)."""
    start = interval_start_sql(column="q.as_of", interval=interval)
    # The quotes of the run's ranges of moments (index ranges of quote_as_of_id_idx), matched to the touched
    # (coin, interval) pairs by equality. A join on each pair's range instead led PostgreSQL, before its
    # statistics knew the new rows, to compare every quote with every interval.
    return f"""
    WITH touched AS (
        SELECT DISTINCT q.coin_id, {start} AS starts_at FROM coins_quote q WHERE q.run_id = %s
    ), quoted AS (
        SELECT q.coin_id, t.starts_at, q.source, q.as_of, q.price_usd
        FROM coins_quote q JOIN touched t ON t.coin_id = q.coin_id AND t.starts_at = {start}
        WHERE {ranges_sql(bounds)}
    )"""


def _coins_quoted_sql(interval: str, *, coins: int) -> str:
    """WITH ... quoted: every quote of `coins` coins, by their index."""
    start = interval_start_sql(column="q.as_of", interval=interval)
    return f"""
    WITH quoted AS (
        SELECT q.coin_id, {start} AS starts_at, q.source, q.as_of, q.price_usd
        FROM coins_quote q WHERE q.coin_id IN ({", ".join(["%s"] * coins)})
    )"""


def _members_sql(*, interval: str, quoted: str) -> str:
    """quoted's WITH, then ... members: each source's last quote in each of its intervals two or more sources
    quoted, with the interval's median."""
    median = exact_sql("AVG(price_usd)")
    deviation = exact_sql("ROUND((r.price_usd - m.median) / m.median, 8)")
    # Only intervals two or more sources quoted get a row (a lone one's consensus is its quote, read where it
    # is shown), and they are picked out before the windows: a first load's lone intervals, most of its
    # history, cost no sort.
    return f"""{quoted}, shared AS (
        SELECT coin_id, starts_at FROM quoted GROUP BY coin_id, starts_at HAVING MIN(source) < MAX(source)
    ), latest AS (
        SELECT q.coin_id, q.starts_at, q.source, q.as_of, q.price_usd,
               ROW_NUMBER() OVER (PARTITION BY q.coin_id, q.starts_at, q.source ORDER BY q.as_of DESC) AS recency
        FROM quoted q JOIN shared s ON s.coin_id = q.coin_id AND s.starts_at = q.starts_at
    ), ranked AS (
        SELECT coin_id, starts_at, source, as_of, price_usd,
               ROW_NUMBER() OVER (PARTITION BY coin_id, starts_at ORDER BY price_usd, source) AS position,
               COUNT(*) OVER (PARTITION BY coin_id, starts_at) AS n
        FROM latest WHERE recency = 1
    ), medians AS (
        SELECT coin_id, starts_at, {median} AS median, MAX(n) AS n
        FROM ranked WHERE position IN ((n + 1) / 2, (n + 2) / 2) GROUP BY coin_id, starts_at
    ), members AS (
        SELECT r.coin_id, r.starts_at, r.source, r.as_of, r.price_usd, m.median, m.n,
               CASE WHEN m.median > 0 THEN {deviation} END AS deviation,
               CASE WHEN m.median > 0 AND ABS(r.price_usd - m.median) > m.median * CAST(%s AS NUMERIC)
                    THEN 1 ELSE 0 END AS outlier
        FROM ranked r JOIN medians m ON m.coin_id = r.coin_id AND m.starts_at = r.starts_at
    )"""


def consensus_refresh(*, run_id: int) -> int:
    """Compute the consensus of every coin and interval the run wrote a quote in; the number written."""
    interval = settings.CONSENSUS_INTERVAL
    starts = f"SELECT DISTINCT {interval_start_sql(column='as_of', interval=interval)} FROM coins_quote"
    with connection.cursor() as cursor:
        bounds = ranges_bounds(
            cursor=cursor, starts_sql=f"{starts} WHERE run_id = %s", params=[run_id], interval=interval
        )
    if not bounds:
        return 0
    return _consensus_write(
        interval=interval, quoted=_run_quoted_sql(interval, bounds=bounds), params=[run_id, *bounds]
    )


def consensus_rebuild(*, coin_ids: list[int]) -> int:
    """Compute the consensus of every interval of these coins again, their rows dropped first: after quotes
    moved from one coin to another (a listing re-pointed), an interval may have lost a source or gained one.
    The number written."""
    interval = settings.CONSENSUS_INTERVAL
    coins = ", ".join(["%s"] * len(coin_ids))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM coins_consensusquote WHERE consensus_id IN"
            f" (SELECT id FROM coins_consensus WHERE coin_id IN ({coins}))",
            coin_ids,
        )
        cursor.execute(f"DELETE FROM coins_consensus WHERE coin_id IN ({coins})", coin_ids)
        return _consensus_write(
            interval=interval, quoted=_coins_quoted_sql(interval, coins=len(coin_ids)), params=coin_ids
        )


def _consensus_write(*, interval: str, quoted: str, params: list) -> int:
    """Upsert the consensus of the intervals of `quoted` (_run_quoted_sql, _coins_quoted_sql) and their
    sources' say."""
    fraction = str(settings.CONSENSUS_OUTLIER_PCT / Decimal(100))
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    spread = exact_sql("ROUND((MAX(price_usd) - MIN(price_usd)) / median, 8)")
    postgres = connection.vendor == "postgresql"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_MEMBERS}")
        if postgres:
            # Built for hash joins: right after a first load the planner's statistics do not know the run's
            # rows, and it chose a nested loop over all of them (quadratic: 65 s for 26,000 quotes).
            cursor.execute("SET LOCAL enable_nestloop TO off")
        members = _members_sql(interval=interval, quoted=quoted)
        cursor.execute(f"CREATE TEMPORARY TABLE {_MEMBERS} AS {members} SELECT * FROM members", [*params, fraction])
        if postgres:
            cursor.execute("SET LOCAL enable_nestloop TO DEFAULT")
            cursor.execute(f"ANALYZE {_MEMBERS}")
        # SQLite needs the WHERE to read ON CONFLICT as the upsert's, not a join's.
        cursor.execute(
            f"""INSERT INTO coins_consensus
                (coin_id, interval, starts_at, price_usd, sources, spread, outliers, computed_at)
            SELECT coin_id, %s, starts_at, median, n, CASE WHEN median > 0 THEN {spread} END, SUM(outlier), %s
            FROM {_MEMBERS} WHERE true GROUP BY coin_id, starts_at, median, n
            ON CONFLICT (coin_id, interval, starts_at) DO UPDATE SET price_usd = excluded.price_usd,
                sources = excluded.sources, spread = excluded.spread, outliers = excluded.outliers,
                computed_at = excluded.computed_at{"" if postgres else " RETURNING id"}""",
            [interval, now],
        )
        # SQLite has no row count for an INSERT ... SELECT upsert, so it returns the ids; PostgreSQL counts
        # them itself (a first load's million ids fetched were 113 MB of the process).
        written = cursor.rowcount if postgres else len(cursor.fetchall())
        if postgres:
            _statistics_refreshed(cursor=cursor, written=written)
        cursor.execute(
            "DELETE FROM coins_consensusquote WHERE consensus_id IN"
            " (SELECT id FROM coins_consensus WHERE computed_at = %s AND interval = %s)",
            [now, interval],
        )
        cursor.execute(
            f"""INSERT INTO coins_consensusquote (consensus_id, source, as_of, price_usd, deviation, outlier)
            SELECT c.id, m.source, m.as_of, m.price_usd, m.deviation, m.outlier = 1
            FROM {_MEMBERS} m JOIN coins_consensus c
                ON c.coin_id = m.coin_id AND c.interval = %s AND c.starts_at = m.starts_at""",
            [interval],
        )
        cursor.execute(f"DROP TABLE {_MEMBERS}")
    return written


def _statistics_refreshed(*, cursor, written: int) -> None:
    """ANALYZE the consensus table when its statistics know fewer rows than were just written, as after a first
    load: the days' candles (coins.candles) join it next, and on statistics of an empty table PostgreSQL
    scanned the whole of it for each day instead of its index (0.14 s of a first run's 0.31 s). Once it is
    large, an hourly run's rows leave its statistics near enough, and the check is one catalog read."""
    cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'coins_consensus'::regclass")
    (known,) = cursor.fetchone()
    if written > max(known, 0):  # reltuples is -1 for a table never analyzed
        cursor.execute("ANALYZE coins_consensus")
