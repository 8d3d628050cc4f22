"""The admin as an operator sees it: branded, the market on the coin list, runs readable at a glance."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from etl.models import EtlRun, RunStatus, SourceRun, SourceStatus, Trigger
from tests.factories import T0, make_coin, make_quote

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    return client


def text(response) -> str:
    """The page's text, tags and runs of white space dropped, as a reader takes it in."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.DOTALL)
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


def test_the_admin_is_branded_kasparro(admin_client):
    page = admin_client.get("/admin/")
    assert "<title>Market data and the pipeline | Kasparro admin</title>" in page.content.decode()
    assert re.search(r'<div id="site-name"><a href="/admin/">Kasparro</a></div>', page.content.decode())
    assert "Django administration" not in page.content.decode()


def test_the_coin_list_shows_the_market_by_rank(admin_client):
    btc = make_coin("BTC", "Bitcoin", "bitcoin", rank=1)
    eth = make_coin("ETH", "Ethereum", "ethereum", rank=2)
    make_coin("ZZZ", "Unranked", "aaa-unranked")  # first by slug, last by rank
    make_quote(btc, source="legacy_csv", as_of=T0, price_usd=Decimal("90000"), market_cap_usd=Decimal("1"))
    make_quote(
        btc,
        source="coincap",
        as_of=T0 + timedelta(hours=1),
        price_usd=Decimal("97555.28202235"),
        market_cap_usd=Decimal("1930177593571.25"),
        percent_change_24h=Decimal("-3.8"),
    )
    make_quote(eth, source="coinpaprika", as_of=T0, price_usd=Decimal("0.00002466542"), percent_change_24h=Decimal("2"))
    page = text(admin_client.get("/admin/coins/coin/"))
    rows = page[page.index("Rank Coin Price (USD)") :]
    assert rows.startswith("Rank Coin Price (USD) Market cap 24h Source As of (UTC)")
    # The newest quote of any source: coincap's, an hour after the CSV's.
    assert "1 Bitcoin BTC $97,555.28 $1.93T -3.80% coincap 2024-11-21 01:00" in rows
    assert "2 Ethereum ETH $0.00002467 - +2.00% coinpaprika 2024-11-21 00:00" in rows
    assert rows.index("Bitcoin") < rows.index("Ethereum") < rows.index("Unranked")


def test_durations_are_rounded_for_a_person(admin_client):
    now = timezone.now()
    run = EtlRun.objects.create(
        trigger=Trigger.CLI,
        sources=["legacy_csv"],
        status=RunStatus.SUCCEEDED,
        started_at=now - timedelta(seconds=0.21362711399979162),
        finished_at=now,
    )
    SourceRun.objects.create(
        run=run, source="legacy_csv", status=SourceStatus.SUCCEEDED, extract_seconds=0.21362711399979162,
        load_seconds=75.5,
    )  # fmt: skip
    listing = text(admin_client.get("/admin/etl/etlrun/"))
    assert "0.21 s" in listing and "0.2136" not in listing
    page = text(admin_client.get(f"/admin/etl/etlrun/{run.pk}/change/"))
    assert "legacy_csv Succeeded done 0 0 0 0 0 0.21 s 1 min 16 s" in page and "0.2136" not in page


def test_the_run_page_shows_progress_and_reloads_while_the_run_is_active(admin_client):
    run = EtlRun.objects.create(trigger=Trigger.API, sources=["legacy_csv"], status=RunStatus.RUNNING)
    SourceRun.objects.create(
        run=run, source="legacy_csv", status=SourceStatus.EXTRACTING, read=4000, progress_bytes=400,
        progress_bytes_total=1000,
    )  # fmt: skip
    active = admin_client.get(f"/admin/etl/etlrun/{run.pk}/change/")
    assert '<meta http-equiv="refresh" content="5">' in active.content.decode()
    assert "legacy_csv Extracting 4,000 read (40%) 4000" in text(active)
    EtlRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED)
    finished = admin_client.get(f"/admin/etl/etlrun/{run.pk}/change/")
    assert 'http-equiv="refresh"' not in finished.content.decode()


def test_the_run_page_rows_have_no_caption_and_the_button_is_the_admins_own(admin_client):
    run = EtlRun.objects.create(trigger=Trigger.API, sources=["legacy_csv"], status=RunStatus.SUCCEEDED)
    SourceRun.objects.create(run=run, source="legacy_csv", status=SourceStatus.SUCCEEDED)
    page = admin_client.get(f"/admin/etl/etlrun/{run.pk}/change/").content.decode()
    # Django writes "legacy_csv in run N" above the row; the page's own style hides it.
    assert ".inline-group .tabular td.original p { display: none; }" in page
    assert re.search(r">\s*Sources\s*</h2>", page)  # the inline table is headed for what its rows are
    tools = admin_client.get("/admin/etl/etlrun/").content.decode()
    button = re.search(r'<ul class="object-tools">.*?</ul>', tools, re.DOTALL).group(0)
    assert '<button type="submit" class="runlink">Run ETL now</button>' in button
    assert "var(--object-tools-bg)" in tools and "style=" not in button


def test_the_api_gives_durations_to_the_millisecond(api_client):
    now = timezone.now()
    run = EtlRun.objects.create(
        trigger=Trigger.CLI,
        sources=["legacy_csv"],
        status=RunStatus.SUCCEEDED,
        started_at=now - timedelta(microseconds=213627),
        finished_at=now,
    )
    SourceRun.objects.create(run=run, source="legacy_csv", extract_seconds=0.21362711399979162, load_seconds=1.00049)
    body = api_client.get(f"/runs/{run.pk}").json()
    assert body["duration_seconds"] == 0.214
    part = body["source_runs"][0]
    assert (part["extract_seconds"], part["load_seconds"], part["duration_seconds"]) == (0.214, 1.0, 1.214)
