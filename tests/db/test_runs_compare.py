"""GET /runs/compare: the figures of two runs and their differences, as the database holds them."""

import math

import pytest

from coins.models import Quote
from devtools.source_server import SourceServer
from etl.models import EtlRun, SourceRun, Trigger
from etl.services import etl_run_create
from tests.factories import run_etl

pytestmark = pytest.mark.django_db


@pytest.fixture
def server(settings):
    with SourceServer(port=0, coins=60, seed=5) as running:
        settings.ETL_SOURCES = ["coinpaprika"]
        settings.COINPAPRIKA_BASE_URL = running.coinpaprika_url
        settings.COINPAPRIKA_RATE_LIMIT = 0
        yield running


def test_compare_figures_equal_what_the_database_holds(server, api_client):
    base = run_etl()
    server.tick(minutes=60)
    server.change_prices(fraction=0.3, seed=2)
    head = run_etl()
    body = api_client.get("/runs/compare").json()  # the last two finished runs by default
    assert (body["base"]["id"], body["head"]["id"]) == (base.pk, head.pk)
    before, after = (SourceRun.objects.get(run=run, source="coinpaprika") for run in (base, head))
    part = body["sources"]["coinpaprika"]
    assert part["status"] == {"base": "succeeded", "head": "succeeded"}
    for field in ("read", "inserted", "updated", "unchanged", "rejected"):
        was, now = getattr(before, field), getattr(after, field)
        assert part["counts"][field] == {"base": was, "head": now, "delta": now - was}, field
    assert part["durations"]["duration_seconds"]["head"] == round(after.duration_seconds, 3)
    assert part["coins_added"] == part["coins_removed"] == {"count": 0, "items": []}
    assert part["schema_drift"] == {"added": [], "removed": [], "retyped": [], "renamed": []}

    prices = {
        run.pk: dict(Quote.objects.filter(run=run).values_list("coin__slug", "price_usd")) for run in (base, head)
    }
    moved = sorted(
        ((abs(math.log(prices[head.pk][c] / p)), c) for c, p in prices[base.pk].items() if prices[head.pk][c] != p),
        reverse=True,
    )
    assert len(moved) == 18  # 30% of 60
    assert [m["coin"] for m in body["price_moves"]] == [c for _, c in moved[:10]]
    first = body["price_moves"][0]
    assert first["base"]["price_usd"] == format(prices[base.pk][first["coin"]], "f")
    assert first["head"]["price_usd"] == format(prices[head.pk][first["coin"]], "f")
    assert len(api_client.get("/runs/compare?top=3").json()["price_moves"]) == 3


def test_coins_a_snapshot_source_stopped_sending_are_listed(server, settings, api_client):
    base = run_etl()
    with SourceServer(port=0, coins=50, seed=5) as fewer:
        settings.COINPAPRIKA_BASE_URL = fewer.coinpaprika_url
        head = run_etl()
    gone = sorted({c.coinpaprika_id for c in server.coins} - {c.coinpaprika_id for c in fewer.coins})
    body = api_client.get(f"/runs/compare?base={base.pk}&head={head.pk}").json()
    removed = body["sources"]["coinpaprika"]["coins_removed"]
    assert removed["count"] == len(gone) == 10
    assert [item["source_id"] for item in removed["items"]] == gone
    assert body["sources"]["coinpaprika"]["counts"]["read"] == {"base": 60, "head": 50, "delta": -10}


@pytest.mark.parametrize(
    ("query", "parameter", "says"),
    [
        ("base=abc", "base", "valid integer"),
        ("head=0", "head", "greater than or equal to 1"),
        ("head=999999", "head", "No run 999999."),
        ("base=999999&head={run}", "base", "No run 999999."),
        ("top=0", "top", "greater than or equal to 1"),
        ("top=1000", "top", "less than or equal to 100"),
        ("bse=1", "bse", "Unknown parameter"),
    ],
)
def test_bad_base_and_head_are_400s_naming_the_parameter(server, api_client, query, parameter, says):
    run = run_etl()
    response = api_client.get(f"/runs/compare?{query.format(run=run.pk)}")
    assert response.status_code == 400
    assert says in response.json()[parameter][0]


def test_an_unfinished_run_or_none_before_head_is_a_400_naming_the_parameter(server, api_client):
    assert "No finished run yet" in api_client.get("/runs/compare").json()["head"][0]
    first = run_etl()
    assert api_client.get("/runs/compare").json()["base"] == [
        f"No finished run before run {first.pk} to compare it with."
    ]
    queued, _ = etl_run_create(trigger=Trigger.CLI)
    response = api_client.get(f"/runs/compare?base={first.pk}&head={queued.pk}")
    assert response.status_code == 400
    assert response.json()["head"] == [f"Run {queued.pk} is queued; only finished runs are compared."]
    assert EtlRun.objects.count() == 2
