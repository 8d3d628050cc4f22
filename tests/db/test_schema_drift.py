"""Schema drift: a renamed CSV header read with its confidence or failing the source, an API's renamed field
reported with the right pair, and a steady source quiet."""

import logging

import pytest

from coins.models import Quote
from devtools.source_server import SourceServer
from etl.models import Checkpoint, HeaderMapping, RunStatus, SourceStatus
from etl.pipeline.drift import drift_changes
from tests.factories import run_etl, source_run, write_csv

pytestmark = pytest.mark.django_db

FIRST = ["BTC,97000.5,1900000000000,2025-07-01T00:00:00Z,x", "ETH,3400,400000000000,2025-07-01T00:00:00Z,x"]
SECOND = ["BTC,97100,1900000000000,2025-07-01T01:00:00Z,x", "ETH,3410,400000000000,2025-07-01T01:00:00Z,x"]


def csv_part(*args: str):
    return source_run(run_etl(*args, check=False), "legacy_csv")


def test_a_renamed_csv_header_is_read_with_its_confidence_and_the_rows_load(csv_path, caplog):
    write_csv(csv_path, FIRST)
    assert csv_part().schema_drift is None  # nothing to compare the first run with
    write_csv(csv_path, SECOND, header="Ticker,Prce (USD),MarketCap,Date,Source")
    with caplog.at_level(logging.WARNING):
        part = csv_part("-v", "2")  # run_etl logs the services' warnings from verbosity 2
    assert part.status == SourceStatus.SUCCEEDED and part.inserted == 2
    (rename,) = part.schema_drift["renamed"]
    assert (rename["from"], rename["to"], rename["field"], rename["applied"]) == (
        "Price",
        "Prce (USD)",
        "price_usd",
        True,
    )
    assert 0.8 <= rename["confidence"] < 1
    assert part.schema_drift["added"] == part.schema_drift["removed"] == []
    warning = f"'Prce (USD)' read as price_usd, confidence {rename['confidence']:.2f}"
    assert part.warnings == [warning]
    assert warning in caplog.text
    assert sum("schema drift in legacy_csv" in r.message for r in caplog.records if r.levelno == logging.WARNING) == 1
    assert sorted(Quote.objects.filter(source="legacy_csv").values_list("price_usd", flat=True)) == [
        3400,
        3410,
        97000.5,
        97100,
    ]
    # Rows appended later are read the same way, with the same warning until someone confirms it; no new drift.
    write_csv(csv_path, ["BTC,97200,1900000000000,2025-07-01T02:00:00Z,x"], mode="a")
    later = csv_part()
    assert (later.status, later.inserted, later.warnings) == (SourceStatus.SUCCEEDED, 1, [warning])
    assert drift_changes(later.schema_drift) == 0


def test_an_unrelated_header_fails_the_source_naming_candidates_checkpoint_unmoved(csv_path):
    write_csv(csv_path, FIRST)
    csv_part()
    before = Checkpoint.objects.get(source="legacy_csv").state
    write_csv(
        csv_path,
        [r.replace("97000.5", "red").replace("3400", "blue") for r in FIRST],
        header="Ticker,Colour,MarketCap,Date,Source",
    )
    part = csv_part()
    assert part.status == SourceStatus.FAILED
    assert "lacks required columns: price_usd" in part.error
    assert "'Colour' as price_usd (confidence 0." in part.error
    assert Checkpoint.objects.get(source="legacy_csv").state == before
    (rename,) = part.schema_drift["renamed"]
    assert (rename["to"], rename["field"], rename["applied"]) == ("Colour", "price_usd", False)
    assert HeaderMapping.objects.get(header="Colour").confirmed is False


def test_a_mapping_the_operator_confirms_in_the_admin_is_applied_without_warning(csv_path, client):
    from django.contrib.auth.models import User

    write_csv(csv_path, FIRST)
    csv_part()
    write_csv(csv_path, SECOND, header="Ticker,Cost,MarketCap,Date,Source")
    failed = csv_part()
    assert failed.status == SourceStatus.FAILED
    client.force_login(User.objects.create_superuser("ops", password="x"))
    page = client.get(f"/admin/etl/sourcerun/{failed.pk}/change/").content.decode()
    assert "Cost" in page and "price_usd" in page  # the drift, on the source run's page
    mapping = HeaderMapping.objects.get(header="Cost", field="price_usd")
    assert "Cost" in client.get("/admin/etl/headermapping/?confirmed_at__isempty=1").content.decode()
    client.post("/admin/etl/headermapping/", {"action": "confirm", "_selected_action": [mapping.pk]})
    mapping.refresh_from_db()
    assert mapping.confirmed and mapping.confirmed_by == "ops"
    part = csv_part()
    assert part.status == SourceStatus.SUCCEEDED and part.inserted == 2
    assert part.warnings == []
    (rename,) = part.schema_drift["renamed"]
    assert rename["confirmed"] and rename["applied"]


@pytest.fixture
def server(settings):
    with SourceServer(port=0, coins=60, seed=5) as running:
        settings.ETL_SOURCES = ["coinpaprika", "coincap"]
        settings.COINPAPRIKA_BASE_URL = running.coinpaprika_url
        settings.COINCAP_BASE_URL = running.coincap_url
        settings.COINCAP_API_KEY = "local-key"
        settings.COINCAP_PAGE_SIZE = 100
        settings.COINPAPRIKA_RATE_LIMIT = settings.COINCAP_RATE_LIMIT = 0
        yield running


def test_a_renamed_api_field_is_reported_with_the_right_pair(server):
    run_etl(check=False)
    server.set_fault("coincap", "rename_field", field="priceUsd", to="price_usd")
    part = source_run(run_etl(check=False), "coincap")
    assert [(r["from"], r["to"], r["applied"]) for r in part.schema_drift["renamed"]] == [
        ("data.priceUsd", "data.price_usd", False)
    ]
    assert part.schema_drift["renamed"][0]["confidence"] >= 0.8
    assert part.schema_drift["added"] == part.schema_drift["removed"] == []
    # Not applied: the API's records lack their price and are quarantined, so the source fails and says why.
    assert part.status == SourceStatus.FAILED and "priceUsd" in part.error


def test_ten_steady_runs_raise_no_drift_and_no_anomaly(server, csv_path, settings):
    from etl.models import Anomaly

    settings.ETL_SOURCES = ["coinpaprika", "coincap", "legacy_csv"]
    write_csv(csv_path, FIRST)
    for _ in range(10):
        run = run_etl(check=False)
        assert run.status == RunStatus.SUCCEEDED
        assert [drift_changes(p.schema_drift) for p in run.source_runs.all()] == [0, 0, 0]
    assert not Anomaly.objects.exists()


def test_run_etl_prints_the_runs_drift_warnings_and_anomalies(csv_path):
    from io import StringIO

    from django.core.management import call_command

    write_csv(csv_path, FIRST)
    csv_part()
    write_csv(csv_path, SECOND, header="Ticker,Prce (USD),MarketCap,Date,Source")
    out = StringIO()
    call_command("run_etl", stdout=out)
    assert "legacy_csv: schema drift: renamed 'Price' as 'Prce (USD)' (0.93, applied)" in out.getvalue()
    assert "legacy_csv: warning: 'Prce (USD)' read as price_usd, confidence 0.93" in out.getvalue()
