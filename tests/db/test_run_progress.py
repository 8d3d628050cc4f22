"""A run's progress while it runs: on /runs/{id} batch by batch, and in run_etl's lines once each."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from etl.models import Trigger
from etl.services import etl_run_create, progress_watched, run_normalize_and_upsert, source_extract
from tests.factories import write_csv

pytestmark = pytest.mark.django_db

ROWS = [f"C{i},{i}.5,{i}000,2024-11-21T00:00:00Z,coingecko" for i in range(1, 6)]


def test_runs_id_shows_the_stage_and_the_records_so_far_batch_by_batch(api_client, csv_path, settings):
    settings.ETL_BATCH_SIZE = 2
    write_csv(csv_path, ROWS)
    run, _ = etl_run_create(trigger=Trigger.CLI)
    seen = []

    def look(progress):
        body = api_client.get(f"/runs/{run.pk}").json()
        seen.append((body["progress"], body["source_runs"][0]))

    with progress_watched(look):
        source_extract(run_id=run.pk, source="legacy_csv")
        run_normalize_and_upsert(run_id=run.pk)

    extracting = [(p, s) for p, s in seen if p["stage"] == "extract"]
    loading = [(p, s) for p, s in seen if p["stage"] == "load"]
    assert [p["records_read"] for p, _ in extracting] == [2, 4, 5]
    assert {(p["source"], s["status"]) for p, s in extracting} == {("legacy_csv", "extracting")}
    size = csv_path.stat().st_size
    assert [s["progress"]["bytes_total"] for _, s in extracting] == [size] * 3
    assert 0 < extracting[0][1]["progress"]["bytes_read"] < extracting[1][1]["progress"]["bytes_read"] <= size
    assert extracting[0][1]["progress"]["updated_at"] is not None
    assert [(p["records_loaded"], s["loaded"], s["progress"]["percent"]) for p, s in loading] == [
        (2, 2, 40.0),
        (4, 4, 80.0),
        (5, 5, 100.0),
    ]
    done = api_client.get(f"/runs/{run.pk}").json()
    assert done["progress"] == {"source": None, "stage": None, "records_read": 5, "records_loaded": 5}
    assert done["source_runs"][0]["progress"]["percent"] == 100.0


def test_run_etl_says_each_stage_once_and_each_outcome_once(csv_path):
    write_csv(csv_path, [*ROWS, "BAD,abc,1,2024-11-21T00:00:00Z,x"])
    out = StringIO()
    call_command("run_etl", stdout=out)  # not a terminal: plain lines
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("run ") and lines[0].endswith(": legacy_csv")
    assert re.fullmatch(r"  legacy_csv extract: 6 records in \d+\.\d s(, [\d,]+ records/s)?", lines[1]), lines
    assert re.fullmatch(r"  legacy_csv load: 6 records in \d+\.\d s(, [\d,]+ records/s)?", lines[2]), lines
    assert lines[3] == "  legacy_csv  succeeded       5 inserted, 0 updated, 0 unchanged, 1 rejected"
    assert re.fullmatch(r"run \d+ succeeded in \d+\.\d s", lines[4]) and len(lines) == 5
    assert "extracted" not in out.getvalue()


def test_a_partial_run_names_each_reason_once(csv_path, settings):
    settings.ETL_SOURCES = ["coincap", "legacy_csv"]
    settings.COINCAP_API_KEY = ""
    write_csv(csv_path, ROWS[:1])
    out = StringIO()
    call_command("run_etl", stdout=out)  # coincap not configured: the run still succeeds
    text = out.getvalue()
    assert "  coincap extract: not configured\n" in text
    assert text.count("COINCAP_API_KEY is not set") == 1
    write_csv(csv_path, ["x"], header="Nothing")
    out = StringIO()
    with pytest.raises(CommandError, match=r"^run \d+ failed in \d+\.\d s$") as failure:
        call_command("run_etl", "--full", stdout=out)
    assert failure.value.returncode == 1
    assert out.getvalue().count("lacks required columns") == 1
