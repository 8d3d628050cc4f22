"""Every query the read endpoints run reaches coins_quote and coins_candle through an index, at realistic
statistics.

With a few rows the planner rightly prefers to read a table whole, so the plans are
taken over a couple of hundred thousand quotes and fresh ANALYZE statistics, with the
parameters each request really sent.
"""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from coins.candles import candles_refresh
from coins.models import Coin

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

COINS = 2000
HOURS = 100
NEWEST = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture
def market():
    """COINS coins (symbols shared in pairs, as real ones are), each quoted hourly for HOURS hours by
    one of the three sources in turn; as inserted by hourly runs, the ids grow with as_of; their candles."""
    Coin.objects.bulk_create(
        Coin(
            slug=f"coin-{i}",
            symbol=f"SYM{i % (COINS // 2)}",
            symbol_key=f"sym{i % (COINS // 2)}",
            name=f"Coin {i}",
            name_key=f"coin{i}",
            rank=i if i < COINS * 9 // 10 else None,
        )
        for i in range(COINS)
    )
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        for hour in range(HOURS - 1, -1, -1):
            # One statement a moment, written so PostgreSQL and SQLite both run it.
            cursor.execute(
                "INSERT INTO coins_quote (coin_id, source, as_of, price_usd, market_cap_usd, rank,"
                " content_hash, created_at, updated_at)"
                " SELECT id, CASE (id + %s) %% 3 WHEN 0 THEN 'coinpaprika' WHEN 1 THEN 'coincap' ELSE 'legacy_csv' END,"
                " %s, (id * 7919 + %s * 104729) %% 1000003 / 1000.0, id * 1000, rank, 'x', %s, %s FROM coins_coin",
                [hour, adapt(NEWEST - timedelta(hours=hour)), hour, adapt(NEWEST), adapt(NEWEST)],
            )
    candles_refresh(run_id=None)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return Coin.objects.order_by("-pk").first()


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _deep_cursor(api_client) -> str:
    # The next link of a page that ends half way down the whole walk, from the paginator itself.
    middle = (NEWEST - timedelta(hours=HOURS // 2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    next_link = api_client.get(f"/data?as_of_before={middle}&page_size=1").json()["next"]
    return parse_qs(urlsplit(next_link).query)["cursor"][0]


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN " + sql)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def _reads_whole(plan: str) -> bool:
    if connection.vendor == "postgresql":
        return re.search(r"Seq Scan on coins_(quote|candle)\b", plan) is not None
    # SQLite: "SCAN coins_quote" reads the table in rowid order; "SCAN ... USING INDEX" and "SEARCH" do not.
    return re.search(r"\bSCAN coins_(quote|candle)\b(?! USING)", plan) is not None


def test_no_endpoint_reads_the_quote_or_candle_table_whole(api_client, market):
    window = {
        "as_of_after": (NEWEST - timedelta(hours=10)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "as_of_before": (NEWEST - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    urls = [
        "/data",
        "/data?" + urlencode({"cursor": _deep_cursor(api_client)}),
        f"/data?symbol={market.symbol.lower()}",
        "/data?" + urlencode(window),
        "/data?min_price=500&ordering=price_usd",
        "/data?max_price=500&ordering=-price_usd",
        f"/data?coin={market.slug}",
        "/data?source=coincap",
        "/coins",
        f"/coins?symbol={market.symbol}",
        f"/coins/{market.slug}",
        f"/coins/{market.slug}/history",
        f"/coins/{market.slug}/history?interval=1d",
        f"/coins/{market.slug}/history?source=coincap",
        # Ends inside an hour: those parts are grouped from the quotes.
        f"/coins/{market.slug}/history?"
        + urlencode(
            {"from": _iso(NEWEST - timedelta(days=3, minutes=-15)), "to": _iso(NEWEST - timedelta(minutes=30))}
        ),
    ]
    whole_reads = {}
    for url in urls:
        with CaptureQueriesContext(connection) as captured:
            response = api_client.get(url)
        assert response.status_code == 200, (url, response.content[:300])
        statements = [q["sql"] for q in captured.captured_queries if re.search(r"coins_(quote|candle)\b", q["sql"])]
        assert statements, f"{url} read no quotes"
        for sql in statements:
            plan = _plan(sql)
            if _reads_whole(plan):
                whole_reads.setdefault(url, []).append(f"{sql}\n{plan}")
    assert not whole_reads, "\n\n".join(f"{url}:\n" + "\n".join(plans) for url, plans in whole_reads.items())


def test_a_page_of_coins_is_a_range_of_their_index(api_client, market):
    """/coins in rank order, unranked last: on PostgreSQL an index range, not a sort of every coin; and the
    page's listings without hashing the whole coin table for their runner-ups. (SQLite sorts nulls first when
    ascending, so the embedded default sorts its coins.)"""
    with CaptureQueriesContext(connection) as captured:
        assert api_client.get("/coins?page=2").status_code == 200
    statements = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith('SELECT "coins_coin"."id"') or 'FROM "coins_sourcelisting"' in q["sql"]
    ]
    assert len(statements) == 2, statements  # the page, its listings (no runner-up in this market)
    if connection.vendor == "postgresql":
        whole = [f"{sql}\n{plan}" for sql in statements if "Seq Scan on coins_coin" in (plan := _plan(sql))]
        assert not whole, "\n\n".join(whole)
