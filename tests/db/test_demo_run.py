"""The embedded default's first run, on the shipped CSV alone: /coins starts where the market does."""

import pytest

from tests.factories import ROOT, run_etl

pytestmark = pytest.mark.django_db


def test_coins_from_the_shipped_csv_alone_start_with_bitcoin(api_client, settings):
    settings.LEGACY_CSV_PATH = ROOT / "data" / "coins.csv"
    settings.ETL_SOURCES = ["legacy_csv"]
    run_etl()
    body = api_client.get("/coins?page_size=5").json()
    assert [(c["slug"], c["rank"]) for c in body["results"]] == [
        ("bitcoin", 1),
        ("ethereum", 2),
        ("tether", 3),
        ("xrp", 4),
        ("bnb", 5),
    ]
    tether = api_client.get("/coins/tether").json()["latest_quotes"][0]
    assert tether["as_of"] == "2025-07-01T00:00:00Z" and 0.995 < float(tether["price_usd"]) < 1.005
