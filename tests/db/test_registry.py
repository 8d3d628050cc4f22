"""Adding a source is one module (a SourceSpec) plus one registry line: nothing else names the sources."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError

from coins.models import Quote
from etl.pipeline.records import QuoteRecord, RawItem
from etl.sources import registry
from etl.sources.payloads import load_json_object
from etl.sources.spec import Extraction, SourceSpec
from tests.factories import run_etl, source_run

pytestmark = pytest.mark.django_db

TOY_ITEMS = [
    {"id": "toy-btc", "sym": "BTC", "name": "Bitcoin", "usd": "97000.5"},
    {"id": "toy-doge", "sym": "DOGE", "name": "Dogecoin", "usd": "0.1234"},
]


def toy_to_quote(payload: str) -> QuoteRecord:
    item = load_json_object(payload)
    return QuoteRecord(
        source="toy",
        source_id=item["id"],
        symbol=item["sym"],
        name=item["name"],
        as_of=datetime(2024, 11, 21, tzinfo=UTC),
        price_usd=Decimal(item["usd"]),
    )


class ToyClient:
    def extract(self, checkpoint: dict) -> Extraction:
        items = (RawItem(source_key=i["id"], position=n, payload=json.dumps(i)) for n, i in enumerate(TOY_ITEMS))
        return Extraction(iter(items))


TOY = SourceSpec(name="toy", label="Toy", snapshot=True, to_quote=toy_to_quote, extractor=ToyClient)


@pytest.fixture
def toy_registered(monkeypatch, settings):
    monkeypatch.setattr(registry, "SOURCES", (*registry.SOURCES, TOY))
    settings.ETL_SOURCES = ["toy"]


def test_a_registered_source_runs_end_to_end_and_is_served(toy_registered, api_client):
    run = run_etl()
    assert (run.sources, source_run(run, "toy").inserted) == (["toy"], 2)
    assert Quote.objects.filter(source="toy").count() == 2
    page = api_client.get("/data?source=toy").json()
    assert sorted((r["symbol"], r["price_usd"]) for r in page["results"]) == [("BTC", "97000.5"), ("DOGE", "0.1234")]
    assert api_client.get("/coins/bitcoin").json()["latest_quotes"][0]["source"] == "toy"
    assert api_client.get("/stats").json()["sources"]["toy"]["records_last_run"] == 2


def test_an_unregistered_source_is_a_400_on_data_and_a_refused_run(api_client):
    response = api_client.get("/data?source=toy")
    assert response.status_code == 400 and "source" in response.json()
    with pytest.raises(CommandError, match="unknown source"):
        run_etl("--source", "toy")
