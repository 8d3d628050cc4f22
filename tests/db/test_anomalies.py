"""Anomalies: a run reading a tenth of its usual rows and a hundredfold price jump are flagged, stored and
shown, and the data is kept; the admin marks a flag reviewed."""

import sqlite3
from datetime import timedelta

import pytest

from coins.models import Quote
from devtools.source_server import SourceServer
from etl.models import Anomaly, AnomalyKind, SourceStatus
from tests.factories import T0, run_etl, source_run, staff_client, write_csv

pytestmark = pytest.mark.django_db


def point_at(settings, server: SourceServer) -> None:
    settings.ETL_SOURCES = ["coinpaprika"]
    settings.COINPAPRIKA_BASE_URL = server.coinpaprika_url
    settings.COINPAPRIKA_RATE_LIMIT = 0


def test_a_run_reading_a_tenth_of_the_usual_rows_is_flagged(settings, api_client):
    with SourceServer(port=0, coins=200, seed=3) as usual:
        point_at(settings, usual)
        for _ in range(6):
            run_etl()
    assert not Anomaly.objects.exists()
    with SourceServer(port=0, coins=20, seed=3) as thin:
        point_at(settings, thin)
        run = run_etl()
    part = source_run(run, "coinpaprika")
    assert part.status == SourceStatus.SUCCEEDED and part.read == 20  # flagged, and loaded all the same
    (flag,) = Anomaly.objects.filter(run=run)
    assert (flag.kind, flag.metric, flag.value, flag.baseline) == (AnomalyKind.RUN, "read", 20, 200)
    assert flag.score <= -6
    body = api_client.get(f"/runs/{run.pk}").json()
    assert [(a["kind"], a["metric"], a["value"], a["baseline"]) for a in body["anomalies"]] == [
        ("run", "read", 20.0, 200.0)
    ]
    assert api_client.get("/stats").json()["sources"]["coinpaprika"]["anomalies_open"] == {"run": 1}


def hourly(prices: list[str]) -> list[str]:
    return [f"BTC,{p},,{(T0 + timedelta(hours=h)).isoformat()},x" for h, p in enumerate(prices)]


def test_a_hundredfold_price_jump_is_flagged_and_the_quote_is_still_stored(csv_path, api_client):
    steady = ["97000", "97100", "96900", "97050", "97200", "97150", "97000"]
    write_csv(csv_path, hourly([*steady, "9700000"]))
    run = run_etl()
    assert Quote.objects.filter(source="legacy_csv").count() == 8
    (flag,) = Anomaly.objects.filter(run=run)
    assert (flag.kind, flag.source, flag.metric) == (AnomalyKind.PRICE_JUMP, "legacy_csv", "price_move")
    assert flag.quote.price_usd == 9700000 and flag.quote.as_of == T0 + timedelta(hours=7)
    assert flag.score >= 6 and "97000 then 9700000" in flag.detail
    coin = api_client.get(f"/coins/{flag.coin.slug}").json()
    flagged = [q for q in coin["history"] if q["anomalies"]]
    assert [(q["price_usd"], q["anomalies"][0]["kind"]) for q in flagged] == [("9700000", "price_jump")]
    assert coin["latest_quotes"][0]["anomalies"][0]["kind"] == "price_jump"


def test_a_run_too_large_to_check_at_once_is_checked_in_chunks_with_the_same_flags(csv_path, monkeypatch):
    """Checked a chunk at a time, so that memory stays bounded: a coin with more quotes than a chunk is checked
    a span of time at a time (BTC and ETH here: 121 hours in three spans meeting at hours 40 and 80), small coins
    share a chunk; every jump is flagged once, at a span's first quote too."""
    from etl.services import anomalies

    def series(symbol: str, hours: int, jumps: set[int]) -> list[str]:
        prices = [100 * (1000 if h >= min(jumps | {hours}) else 1) + h % 3 for h in range(hours)]
        for jump in sorted(jumps)[1:]:  # each later jump falls back to the old level
            prices[jump:] = [100 + h % 3 for h in range(jump, hours)]
        return [f"{symbol},{p},,{(T0 + timedelta(hours=h)).isoformat()},{symbol}" for h, p in enumerate(prices)]

    jumps = {"BTC": {40}, "ETH": {80, 100}, "SOL": {7}, "XRP": {7}, "DOGE": {7}}
    hours = {"BTC": 121, "ETH": 121, "SOL": 8, "XRP": 8, "DOGE": 8}
    write_csv(csv_path, [line for symbol in jumps for line in series(symbol, hours[symbol], jumps[symbol])])
    run = run_etl()

    def flagged() -> list[tuple[str, int]]:
        return sorted(
            (flag.quote.coin.symbol, int((flag.quote.as_of - T0) / timedelta(hours=1)))
            for flag in Anomaly.objects.filter(run=run, kind=AnomalyKind.PRICE_JUMP).select_related("quote__coin")
        )

    expected = sorted((symbol, hour) for symbol, hours in jumps.items() for hour in hours)
    assert flagged() == expected  # checked at once: a chunk holds 50,000 rows
    Anomaly.objects.filter(run=run).delete()
    monkeypatch.setattr(anomalies, "PRICE_CHECK_ROWS", 60)
    chunks = list(anomalies._price_check_chunks(Quote.objects.filter(run=run)))
    assert sorted(len(coins) for coins, _, _ in chunks) == [1, 1, 1, 1, 1, 1, 1, 2]
    anomalies.source_anomalies_detect(source_run=source_run(run, "legacy_csv"))
    assert flagged() == expected


def test_a_price_far_from_the_other_sources_at_that_moment_is_flagged(csv_path, settings):
    with SourceServer(port=0, coins=50, seed=3, as_of=T0) as server:
        settings.ETL_SOURCES = ["coinpaprika", "legacy_csv"]
        settings.COINPAPRIKA_BASE_URL = server.coinpaprika_url
        settings.COINPAPRIKA_RATE_LIMIT = 0
        btc = next(coin for coin in server.coins if coin.symbol == "BTC")
        write_csv(
            csv_path, [f"BTC,{btc.price},,{T0.isoformat()},{btc.name}"], header="Ticker,Price,MarketCap,Date,Name"
        )
        assert not run_etl().anomalies.exists()
        # The listing is bitcoin's now: half an hour later the file says twice CoinPaprika's price.
        write_csv(csv_path, [f"BTC,{btc.price * 2},,{(T0 + timedelta(minutes=30)).isoformat()},{btc.name}"], mode="a")
        run = run_etl()
    (flag,) = Anomaly.objects.filter(run=run)
    assert (flag.kind, flag.source, flag.score) == (AnomalyKind.PRICE_DISAGREEMENT, "legacy_csv", 2.0)
    assert flag.quote.coin.slug == "bitcoin" and flag.baseline == pytest.approx(float(btc.price))


def test_the_admin_lists_flags_by_kind_and_marks_them_reviewed(csv_path, client):
    write_csv(csv_path, hourly(["100", "101", "99", "100", "102", "101", "100", "10000"]))
    run_etl()
    flag = Anomaly.objects.get()
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("root", password="x"))
    page = client.get("/admin/etl/anomaly/?kind__exact=price_jump&reviewed_at__isempty=1")
    assert page.status_code == 200 and "10000" in page.content.decode()
    client.post("/admin/etl/anomaly/", {"action": "mark_reviewed", "_selected_action": [flag.pk]})
    flag.refresh_from_db()
    assert flag.reviewed and flag.reviewed_by == "root"
    assert staff_client().get("/stats").json()["totals"]["anomalies"] == {"open": 0, "reviewed": 1}


def test_a_run_of_more_coins_than_a_statement_takes_parameters_is_still_checked():
    """SQLite is held here to 999 parameters a statement (its limit before 3.32; PostgreSQL's psycopg2 stops at
    65,535): a run of 1,200 coins, one of them priced far from the other source, gets its flag."""
    from django.db import connection

    from coins.models import Coin
    from etl.models import EtlRun, RunStatus, SourceRun
    from etl.services.anomalies import source_anomalies_detect

    coins = Coin.objects.bulk_create(
        Coin(slug=f"coin-{i}", symbol=f"C{i}", symbol_key=f"c{i}", name=f"Coin {i}", name_key=f"coin{i}")
        for i in range(1200)
    )
    run = EtlRun.objects.create(trigger="manual", sources=["coincap"], status=RunStatus.SUCCEEDED)
    part = SourceRun.objects.create(run=run, source="coincap", status=SourceStatus.SUCCEEDED, read=len(coins))
    common = {"as_of": T0, "content_hash": "x", "created_at": T0, "updated_at": T0}
    Quote.objects.bulk_create(
        [
            Quote(coin=c, source="coincap", price_usd=100 if c.slug != "coin-7" else 1000, run=run, **common)
            for c in coins
        ]
        + [Quote(coin=c, source="coinpaprika", price_usd=100, **common) for c in coins]
    )
    limited = connection.vendor == "sqlite"
    if limited:
        connection.ensure_connection()
        before = connection.connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    try:
        flags = source_anomalies_detect(source_run=part)
    finally:
        if limited:
            connection.connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)
    assert [(f.kind, f.detail.split(":")[0]) for f in flags] == [(AnomalyKind.PRICE_DISAGREEMENT, "coin-7")]
