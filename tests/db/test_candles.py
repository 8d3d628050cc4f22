"""The stored candles: written after each run for the hours and days it touched, read by /coins/{slug}/history.

Checked against candles computed here, in Python, straight from the quotes: over several runs that each
add to hours and days an earlier run already rolled up, and for windows whose ends fall inside an interval.
"""

import random
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from coins.candles import candles_refresh
from coins.consensus import consensus_refresh
from coins.history import candle_json, coin_history_candles_json, coin_price_history
from coins.intervals import interval_floor
from coins.models import Candle, Consensus, ConsensusQuote, Quote
from core.renderers import FastJSONRenderer
from etl.models import EtlRun, RunStatus
from tests.factories import T0, make_coin, make_quote

pytestmark = pytest.mark.django_db

SOURCES = ("coincap", "coinpaprika", "legacy_csv")


def reference(quotes: list[Quote], *, interval: str, starts: datetime, ends: datetime) -> dict[str, list[dict]]:
    """candle_json objects per source, from the quotes in [starts, ends) grouped here."""
    groups: dict[tuple[str, datetime], list[Quote]] = {}
    for quote in sorted(quotes, key=lambda q: q.as_of):
        if starts <= quote.as_of < ends:
            groups.setdefault((quote.source, interval_floor(quote.as_of, interval=interval)), []).append(quote)
    found: dict[str, list[dict]] = {}
    for (source, starts_at), group in sorted(groups.items()):
        prices = [q.price_usd for q in group]
        last = group[-1]
        found.setdefault(source, []).append(
            {
                "starts_at": starts_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "open": format(prices[0], "f"),
                "high": format(max(prices), "f"),
                "low": format(min(prices), "f"),
                "close": format(last.price_usd, "f"),
                "market_cap_usd": None if last.market_cap_usd is None else format(last.market_cap_usd, "f"),
                "volume_24h_usd": None if last.volume_24h_usd is None else format(last.volume_24h_usd, "f"),
            }
        )
    return found


def served(coin, **window) -> dict[str, list]:
    """The series as the API writes them (PostgreSQL's JSON text included), decoded again."""
    import json

    body = FastJSONRenderer().render({"series": coin_history_candles_json(coin_id=coin.pk, **window)})
    return json.loads(body)["series"]


@pytest.fixture
def market():
    """Three days of quotes from three sources at random minutes, loaded by four runs in time order, each
    rolling up what it wrote: every run but the first adds to an hour and a day an earlier one had."""
    rng = random.Random(20241121)
    coin = make_coin("BTC", "Bitcoin", "bitcoin", rank=1)
    moments = sorted({T0 + timedelta(minutes=rng.randrange(3 * 24 * 60)) for _ in range(400)})
    runs = [EtlRun.objects.create(trigger="manual", sources=[], status=RunStatus.SUCCEEDED) for _ in range(4)]
    quotes = []
    for index, moment in enumerate(moments):
        run = runs[index * len(runs) // len(moments)]
        source = SOURCES[index % 3]
        price = Decimal(97000 + rng.randrange(-5000, 5000)) / (10 ** rng.randrange(0, 9))
        cap = None if index % 7 == 0 else Decimal(rng.randrange(10**12)) / 100
        quotes.append(make_quote(coin, source=source, as_of=moment, price_usd=price, market_cap_usd=cap, run=run))
        if moment == moments[-1] or runs[(index + 1) * len(runs) // len(moments)] is not run:
            consensus_refresh(run_id=run.pk)
            candles_refresh(run_id=run.pk)
    return coin, quotes


@pytest.mark.parametrize(
    ("interval", "starts", "ends"),
    [
        ("1h", T0, T0 + timedelta(days=3)),
        ("1d", T0, T0 + timedelta(days=3)),
        # Ends inside an hour and inside a day: those parts come from the quotes, the rest from the candles.
        ("1h", T0 + timedelta(hours=5, minutes=17), T0 + timedelta(days=2, hours=3, minutes=41)),
        ("1d", T0 + timedelta(hours=9, minutes=30), T0 + timedelta(days=2, hours=20)),
        ("1d", T0 + timedelta(days=1, hours=2), T0 + timedelta(days=1, hours=14)),  # inside one day
    ],
)
def test_the_history_is_the_quotes_grouped_whatever_runs_wrote_them(market, interval, starts, ends):
    coin, quotes = market
    expected = reference(quotes, interval=interval, starts=starts, ends=ends)
    typed = coin_price_history(coin_id=coin.pk, interval=interval, starts=starts, ends=ends)
    assert {name: [candle_json(c) for c in candles] for name, candles in typed.items() if name in SOURCES} == expected
    assert {
        name: candles
        for name, candles in served(coin, interval=interval, starts=starts, ends=ends, source="").items()
        if name in SOURCES
    } == expected


@pytest.fixture
def mixed():
    """A day in which some hours one source quoted and others two or three, each once or twice, by two runs."""
    rng = random.Random(20241203)
    coin = make_coin("ETH", "Ethereum", "ethereum", rank=2)
    runs = [EtlRun.objects.create(trigger="manual", sources=[], status=RunStatus.SUCCEEDED) for _ in range(2)]
    quotes = []
    for hour in range(24):
        for source in rng.sample(SOURCES, rng.choice((1, 1, 2, 3))):
            for minute in rng.sample(range(60), rng.choice((1, 2))):
                price = Decimal(3000 + rng.randrange(-300, 300)) / (10 ** rng.randrange(0, 5))
                moment = T0 + timedelta(hours=hour, minutes=minute)
                quotes.append(make_quote(coin, source=source, as_of=moment, price_usd=price, run=runs[hour // 12]))
    for run in runs:
        consensus_refresh(run_id=run.pk)
        candles_refresh(run_id=run.pk)
    return coin, quotes


@pytest.mark.parametrize(
    ("starts", "ends"),
    [
        (T0, T0 + timedelta(days=1)),  # whole hours: each source's candles and the lone hours from one sort
        (T0 + timedelta(hours=5, minutes=17), T0 + timedelta(hours=20, minutes=41)),
    ],
)
def test_the_hourly_consensus_is_the_stored_median_or_a_lone_sources_last_price(mixed, starts, ends):
    coin, quotes = mixed
    medians = {c.starts_at: c.price_usd for c in Consensus.objects.filter(coin=coin, interval="1h")}
    hours: dict[datetime, list[Quote]] = {}
    for quote in sorted(quotes, key=lambda q: q.as_of):
        hours.setdefault(interval_floor(quote.as_of, interval="1h"), []).append(quote)
    expected = []
    for hour, group in sorted(hours.items()):
        if starts <= hour < ends:
            assert (hour in medians) == (len({q.source for q in group}) > 1)
            price = format(medians.get(hour, group[-1].price_usd), "f")
            point = dict.fromkeys(("open", "high", "low", "close"), price)
            expected.append(
                {
                    "starts_at": hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    **point,
                    "market_cap_usd": None,
                    "volume_24h_usd": None,
                }
            )
    stored = sum(starts <= hour < ends for hour in medians)
    assert 0 < stored < len(expected)  # both kinds of hour are in the window
    for source in ("", "consensus"):
        typed = coin_price_history(coin_id=coin.pk, interval="1h", starts=starts, ends=ends, source=source)
        assert set(typed) == ({"consensus"} if source else {*SOURCES, "consensus"})
        assert [candle_json(c) for c in typed["consensus"]] == expected
        assert served(coin, interval="1h", starts=starts, ends=ends, source=source)["consensus"] == expected
    # The sources' candles of the same window, through the same sort, are the quotes grouped.
    expected = reference(quotes, interval="1h", starts=starts, ends=ends)
    assert {
        name: series
        for name, series in served(coin, interval="1h", starts=starts, ends=ends, source="").items()
        if name in SOURCES
    } == expected


def test_the_consensus_series_rolls_up_the_hourly_consensus(market):
    coin, _ = market
    window = {"starts": T0, "ends": T0 + timedelta(days=3)}
    hours = coin_price_history(coin_id=coin.pk, interval="1h", source="consensus", **window)["consensus"]
    (first_day, *_) = coin_price_history(coin_id=coin.pk, interval="1d", source="consensus", **window)["consensus"]
    of_day = [c for c in hours if c.starts_at < T0 + timedelta(days=1)]
    assert all(c.open == c.high == c.low == c.close for c in hours)
    assert (first_day.open, first_day.close) == (of_day[0].close, of_day[-1].close)
    assert (first_day.high, first_day.low) == (max(c.close for c in of_day), min(c.close for c in of_day))


def test_a_rerun_of_an_interval_replaces_its_candle(market):
    coin, quotes = market
    newest = max(quotes, key=lambda q: q.as_of)
    run = EtlRun.objects.create(trigger="manual", sources=[])
    make_quote(
        coin, source=newest.source, as_of=newest.as_of + timedelta(seconds=1), price_usd=Decimal("1000000000"), run=run
    )
    candles_refresh(run_id=run.pk)
    day = interval_floor(newest.as_of, interval="1d")
    (candle,) = Candle.objects.filter(coin=coin, series=newest.source, interval="1d", starts_at=day)
    assert (candle.close, candle.high) == (Decimal("1000000000"), Decimal("1000000000"))
    hour = interval_floor(newest.as_of, interval="1h")
    (read,) = coin_price_history(
        coin_id=coin.pk, interval="1h", starts=hour, ends=hour + timedelta(hours=1), source=newest.source
    )[newest.source]
    assert (read.close, read.high) == (Decimal("1000000000"), Decimal("1000000000"))
    assert not Candle.objects.filter(interval="1h").exists()  # hours are grouped when read


def test_every_digit_survives_on_both_paths(api_client):
    coin = make_coin("SHIB", "Shiba Inu", "shiba-inu", rank=12)
    run = EtlRun.objects.create(trigger="manual", sources=[])
    figures = ("0.000024661", "0.000024663000", "62596198052.8648707737382150")
    for minutes, price in enumerate(figures):
        make_quote(coin, source="coincap", as_of=T0 + timedelta(minutes=minutes), price_usd=Decimal(price), run=run)
    candles_refresh(run_id=run.pk)
    (hour,) = api_client.get("/coins/shiba-inu/history?source=coincap").json()["series"][0]["candles"]
    if connection.vendor == "postgresql":  # SQLite keeps a NUMERIC as a double: 15 digits at best
        assert (hour["open"], hour["high"], hour["close"]) == (figures[0], figures[2], figures[2])
    assert hour["starts_at"] == "2024-11-21T00:00:00Z"
    html = api_client.get("/coins/shiba-inu/history?source=coincap", HTTP_ACCEPT="text/html")
    assert html.status_code == 200 and hour["open"].encode() in html.content


def test_a_deleted_coin_takes_its_consensus_and_candles_along(market):
    """The derived tables have no constraint in the database (coins.models.DERIVED): the cascade is Django's.
    A coin is deleted once its quotes are gone (they protect it), as when its listings move to another."""
    coin, _ = market
    other = make_coin("ETH", "Ethereum", "ethereum", rank=2)
    run = EtlRun.objects.create(trigger="manual", sources=[])
    make_quote(other, source="coincap", as_of=T0, price_usd=Decimal("3000"), run=run)
    make_quote(other, source="coinpaprika", as_of=T0, price_usd=Decimal("3001"), run=run)
    consensus_refresh(run_id=run.pk)
    candles_refresh(run_id=run.pk)
    assert Candle.objects.filter(coin=coin).exists() and ConsensusQuote.objects.filter(consensus__coin=coin).exists()
    Quote.objects.filter(coin=coin).delete()
    coin.delete()
    assert not Candle.objects.filter(coin_id=coin.pk).exists()
    assert not Consensus.objects.filter(coin_id=coin.pk).exists()
    assert ConsensusQuote.objects.filter(consensus__coin_id=coin.pk).count() == 0
    assert ConsensusQuote.objects.count() == 2 and Consensus.objects.filter(coin=other).count() == 1
    assert Candle.objects.filter(coin=other).count() == 3  # its sources' and the consensus's day


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the planner settings are PostgreSQL's")
def test_the_days_leave_the_callers_transaction_its_planner(market):
    # The test's transaction is the caller's: the days' joins are turned off for their statement only.
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin')")
        assert cursor.fetchone() == ("on", "on")
