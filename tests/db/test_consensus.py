"""Consensus per coin and interval: the median of each source's last quote, its spread and its outliers,
computed after a run for the intervals it touched, and served in /coins, /coins/{slug} and /disagreements."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from coins.caching import data_version_bump
from coins.consensus import consensus_refresh
from coins.intervals import MAX_RANGES
from coins.models import Consensus, Quote
from devtools.source_server import SourceServer
from etl.models import EtlRun, RunStatus
from tests.factories import T0, make_coin, make_quote, run_etl, write_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def run():
    return EtlRun.objects.create(trigger="manual", sources=[])


def quote(coin, run, source: str, minutes: int, price: str, **figures):
    return make_quote(
        coin, source=source, as_of=T0 + timedelta(minutes=minutes), price_usd=Decimal(price), run=run, **figures
    )


def test_the_consensus_is_the_median_of_each_sources_last_quote_and_a_far_source_is_its_outlier(api_client, run):
    btc = make_coin("BTC", "Bitcoin", "bitcoin", rank=1)
    quote(btc, run, "coincap", 5, "50")  # superseded by coincap's later quote in the same hour
    quote(btc, run, "coincap", 50, "97000.5")
    quote(btc, run, "coinpaprika", 40, "97100.25")
    quote(btc, run, "legacy_csv", 30, "105000")
    assert consensus_refresh(run_id=run.pk) == 1

    consensus = api_client.get("/coins/bitcoin").json()["consensus"]
    assert consensus["interval"] == "1h" and consensus["starts_at"] == "2024-11-21T00:00:00Z"
    assert consensus["price_usd"] == "97100.25" and consensus["sources"] == 3
    assert Decimal(consensus["spread"]) == round((Decimal("105000") - Decimal("97000.5")) / Decimal("97100.25"), 8)
    assert consensus["outliers"] == ["legacy_csv"]
    by_source = {q["source"]: q for q in consensus["quotes"]}
    assert by_source["coincap"]["price_usd"] == "97000.5" and by_source["coincap"]["as_of"] == "2024-11-21T00:50:00Z"
    assert by_source["coinpaprika"]["deviation"] == "0" and not by_source["coinpaprika"]["outlier"]
    assert Decimal(by_source["legacy_csv"]["deviation"]) > Decimal("0.08") and by_source["legacy_csv"]["outlier"]
    (listed,) = api_client.get("/coins").json()["results"]
    assert listed["consensus"] == consensus


def test_two_sources_meet_halfway_with_every_digit(api_client, run):
    shib = make_coin("SHIB", "Shiba Inu", "shiba-inu", rank=12)
    quote(shib, run, "coincap", 1, "0.000024661")
    quote(shib, run, "coinpaprika", 2, "0.000024663")
    consensus_refresh(run_id=run.pk)
    consensus = api_client.get("/coins/shiba-inu").json()["consensus"]
    assert consensus["price_usd"] == "0.000024662" and consensus["outliers"] == []


def test_only_the_intervals_the_run_touched_are_computed(run):
    btc = make_coin("BTC", "Bitcoin", "bitcoin", rank=1)
    earlier = EtlRun.objects.create(trigger="manual", sources=[], status=RunStatus.SUCCEEDED)
    old = quote(btc, earlier, "coincap", 10, "100")
    quote(btc, earlier, "coinpaprika", 20, "102")
    consensus_refresh(run_id=earlier.pk)
    old.price_usd = Decimal("1")
    old.save()  # an hour this run does not touch: its consensus stays as computed
    for minutes, prices in ((70, ("110", "112")), (130, ("120", "122"))):
        quote(btc, run, "coincap", minutes, prices[0])
        quote(btc, run, "coinpaprika", minutes + 1, prices[1])
    assert consensus_refresh(run_id=run.pk) == 2
    assert list(Consensus.objects.order_by("starts_at").values_list("price_usd", flat=True)) == [101, 111, 121]


def test_a_run_scattered_over_a_year_computes_each_hour_it_touched_and_none_between(run):
    """A run that wrote hours far apart (a legacy CSV's corrections, say) reads those hours as ranges, not the
    history between them: more runs of hours than MAX_RANGES, so the narrowest gaps are read, and an untouched
    hour in one of them, its consensus row stale, is left as it was."""
    btc = make_coin("BTC", "Bitcoin", "bitcoin", rank=1)
    earlier = EtlRun.objects.create(trigger="manual", sources=[], status=RunStatus.SUCCEEDED)
    # Runs of hours 48 apart, one 10 apart (50 and 60: the narrowest gap, so read) and one a year on.
    touched = [0, 1, 60, *range(50, 50 + 48 * (MAX_RANGES + 8), 48), 24 * 365]
    untouched = [2, 55, 24 * 365 - 1]
    for hour in untouched:
        quote(btc, earlier, "coincap", 60 * hour + 5, "10")
        quote(btc, earlier, "coinpaprika", 60 * hour + 6, "12")
    consensus_refresh(run_id=earlier.pk)
    # Hour 55's quotes change after its consensus: read with its gap, it must still not be computed again.
    Quote.objects.filter(as_of=T0 + timedelta(minutes=60 * 55 + 5)).update(price_usd=Decimal("1"))
    for hour in touched:
        quote(btc, run, "coincap", 60 * hour + 10, str(100 + hour))
        quote(btc, run, "coinpaprika", 60 * hour + 20, str(102 + hour))

    with CaptureQueriesContext(connection) as queries:
        assert consensus_refresh(run_id=run.pk) == len(touched)
    (members,) = [query["sql"] for query in queries.captured_queries if "CREATE TEMPORARY TABLE" in query["sql"]]
    assert members.count("q.as_of >=") == MAX_RANGES  # not one span from the first hour to the last
    stored = dict(Consensus.objects.values_list("starts_at", "price_usd"))
    assert stored == {
        **{T0 + timedelta(hours=hour): Decimal(101 + hour) for hour in touched},
        **{T0 + timedelta(hours=hour): Decimal(11) for hour in untouched},
    }


def test_one_sources_interval_is_its_quote_and_no_stored_row(api_client, run):
    """Nothing to reconcile: /coins shows the lone quote as a consensus of one, history its price, and the
    interval keeps no row; a second source in a later run makes it a stored median."""
    btc = make_coin("BTC", "Bitcoin", "bitcoin", rank=1)
    quote(btc, run, "coincap", 10, "96000")
    quote(btc, run, "coincap", 50, "97000.5")
    assert consensus_refresh(run_id=run.pk) == 0 and not Consensus.objects.exists()
    consensus = api_client.get("/coins/bitcoin").json()["consensus"]
    assert (consensus["price_usd"], consensus["sources"], consensus["spread"], consensus["outliers"]) == (
        "97000.5",
        1,
        "0",
        [],
    )
    assert [q["as_of"] for q in consensus["quotes"]] == ["2024-11-21T00:50:00Z"]
    window = "from=2024-11-21T00:00:00Z&to=2024-11-21T02:00:00Z"
    (series,) = api_client.get(f"/coins/bitcoin/history?{window}&source=consensus").json()["series"]
    assert [(c["starts_at"], c["close"]) for c in series["candles"]] == [("2024-11-21T00:00:00Z", "97000.5")]

    later = EtlRun.objects.create(trigger="manual", sources=[], status=RunStatus.SUCCEEDED)
    quote(btc, later, "coinpaprika", 55, "97001.50")
    assert consensus_refresh(run_id=later.pk) == 1
    data_version_bump()  # as a run's end does: the answers above are cached
    consensus = api_client.get("/coins/bitcoin").json()["consensus"]
    assert (consensus["price_usd"], consensus["sources"]) == ("97001", 2)
    (series,) = api_client.get(f"/coins/bitcoin/history?{window}&source=consensus").json()["series"]
    assert [c["close"] for c in series["candles"]] == ["97001"]


def test_the_threshold_is_a_setting(api_client, run, settings):
    settings.CONSENSUS_OUTLIER_PCT = Decimal("20")
    btc = make_coin("BTC", "Bitcoin", "bitcoin", rank=1)
    quote(btc, run, "coincap", 1, "100")
    quote(btc, run, "coinpaprika", 1, "101")
    quote(btc, run, "legacy_csv", 1, "115")
    consensus_refresh(run_id=run.pk)
    assert api_client.get("/coins/bitcoin").json()["consensus"]["outliers"] == []
    assert api_client.get("/disagreements").json()["results"] == []


def test_a_daily_consensus_takes_each_sources_last_quote_of_the_day(api_client, run, settings):
    settings.CONSENSUS_INTERVAL = "1d"
    btc = make_coin("BTC", "Bitcoin", "bitcoin", rank=1)
    quote(btc, run, "coincap", 60, "90")
    quote(btc, run, "coincap", 23 * 60, "100")
    quote(btc, run, "coinpaprika", 12 * 60, "102")
    consensus_refresh(run_id=run.pk)
    consensus = api_client.get("/coins/bitcoin").json()["consensus"]
    assert (consensus["interval"], consensus["starts_at"], consensus["price_usd"]) == (
        "1d",
        "2024-11-21T00:00:00Z",
        "101",
    )


def test_disagreements_newest_first_filtered_by_outlier_source_and_spread(api_client, run):
    btc = make_coin("BTC", "Bitcoin", "bitcoin", rank=1)
    eth = make_coin("ETH", "Ethereum", "ethereum", rank=2)
    for source, price in (("coincap", "100"), ("coinpaprika", "101"), ("legacy_csv", "130")):
        quote(btc, run, source, 10, price)
    for source, price in (("coincap", "3000"), ("coinpaprika", "3300"), ("legacy_csv", "3010")):
        quote(eth, run, source, 70, price)
    for source in ("coincap", "coinpaprika"):
        quote(btc, run, source, 130, "100")  # agreement: not listed
    consensus_refresh(run_id=run.pk)

    body = api_client.get("/disagreements").json()
    assert [(d["coin"], d["starts_at"], d["outliers"]) for d in body["results"]] == [
        ("ethereum", "2024-11-21T01:00:00Z", ["coinpaprika"]),
        ("bitcoin", "2024-11-21T00:00:00Z", ["legacy_csv"]),
    ]
    assert body["meta"]["count"] == 2
    assert [d["coin"] for d in api_client.get("/disagreements?source=legacy_csv").json()["results"]] == ["bitcoin"]
    assert [d["coin"] for d in api_client.get("/disagreements?min_spread=0.2").json()["results"]] == ["bitcoin"]
    assert api_client.get("/disagreements?source=coincap").json()["results"] == []


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("source=kraken", "source"),
        ("min_spread=-0.1", "min_spread"),
        ("min_spread=lots", "min_spread"),
        ("min_spread=NaN", "min_spread"),
        ("coin=bitcoin", "coin"),
        ("page=0", "page"),
    ],
)
def test_a_bad_disagreements_parameter_is_a_400_naming_it(api_client, query, parameter):
    response = api_client.get(f"/disagreements?{query}")
    assert response.status_code == 400 and parameter in response.json()


@pytest.fixture
def market(sources_server, csv_path, settings):
    settings.ETL_SOURCES = ["coinpaprika", "coincap"]
    return sources_server


@pytest.fixture
def sources_server(settings):
    with SourceServer(port=0, coins=40, seed=5) as server:
        settings.COINPAPRIKA_BASE_URL = server.coinpaprika_url
        settings.COINCAP_BASE_URL = server.coincap_url
        settings.COINCAP_API_KEY = "local-key"
        settings.COINPAPRIKA_RATE_LIMIT = settings.COINCAP_RATE_LIMIT = 0
        settings.SOURCE_BACKOFF_SECONDS = 0.01
        yield server


def test_a_run_computes_the_consensus_and_a_skewed_source_shows_as_the_disagreement(
    api_client, market, csv_path, django_capture_on_commit_callbacks
):
    run = run_etl(check=False)
    assert run.status == RunStatus.SUCCEEDED
    assert api_client.get("/disagreements").json()["meta"]["count"] == 0
    btc = api_client.get("/coins/bitcoin").json()["consensus"]
    assert btc["sources"] == 2 and Decimal(btc["spread"]) < Decimal("0.05")

    market.tick(minutes=1)
    market.set_fault("coincap", "skew", factor=1.25)
    moment = market.as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
    paprika_price = next(q["price_usd"] for q in btc["quotes"] if q["source"] == "coinpaprika")
    write_csv(csv_path, [f"BTC,{paprika_price},1,{moment},x"])
    with django_capture_on_commit_callbacks(execute=True):  # the cached pages go out of date
        run = run_etl("--source", "coinpaprika", "--source", "coincap", "--source", "legacy_csv", check=False)
    assert run.status == RunStatus.SUCCEEDED

    btc = api_client.get("/coins/bitcoin").json()["consensus"]
    assert btc["sources"] == 3 and btc["outliers"] == ["coincap"]
    skewed = api_client.get("/disagreements?source=coincap&page_size=500").json()
    assert skewed["meta"]["count"] == len(market.coins)
    assert {d["coin"] for d in skewed["results"]} >= {"bitcoin"}


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the planner statistics are PostgreSQL's")
def test_a_first_load_leaves_the_planner_knowing_its_consensus_rows(run):
    """The days' candles join the consensus right after it is written: on statistics of an empty table the
    planner read the whole table for each day."""
    btc = make_coin("BTC", "Bitcoin", "bitcoin", rank=1)
    for hour in range(3):
        quote(btc, run, "coincap", 60 * hour + 1, "100")
        quote(btc, run, "coinpaprika", 60 * hour + 2, "101")
    assert consensus_refresh(run_id=run.pk) == 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'coins_consensus'::regclass")
        assert cursor.fetchone()[0] >= 3
