"""The pure drift and anomaly scores: profiles, renames and their confidence, robust scores."""

import json
from decimal import Decimal

from etl.pipeline.anomalies import disagreement, price_jumps, robust_score, run_figure_score
from etl.pipeline.drift import SchemaProfiler, name_similarity, schema_compare
from tests.realdata import COINCAP_DAYS


def profile(items: list[dict]) -> dict:
    profiler = SchemaProfiler()
    for item in items:
        profiler.feed(item)
    return profiler.profile()


TICKERS = [{"id": f"c{i}", "quotes": {"USD": {"price": 1.5 * i + 1, "volume": None}}} for i in range(10)]


def test_a_profile_holds_each_path_its_type_null_rate_and_range():
    fields = profile(TICKERS)["fields"]
    assert fields["quotes.USD.price"] == {"type": "number", "null_rate": 0.0, "numeric": 1.0, "min": 1.0, "max": 14.5}
    assert fields["quotes.USD.volume"]["type"] == "null" and fields["quotes.USD.volume"]["null_rate"] == 1.0


def test_the_same_schema_is_no_drift_and_a_suffixed_name_is_a_confident_rename():
    before = profile(TICKERS)
    assert schema_compare(old=before, new=before) == {"added": [], "removed": [], "retyped": [], "renamed": []}
    renamed = [{**t, "quotes": {"USD": {"price_usd": t["quotes"]["USD"]["price"], "volume": None}}} for t in TICKERS]
    drift = schema_compare(old=before, new=profile(renamed))
    assert [(r["from"], r["to"]) for r in drift["renamed"]] == [("quotes.USD.price", "quotes.USD.price_usd")]
    assert drift["renamed"][0]["confidence"] >= 0.85


def test_a_field_unlike_by_name_or_values_is_added_and_removed_not_renamed():
    before = profile(TICKERS)
    other = [{"id": t["id"], "quotes": {"USD": {"colour": "red", "volume": None}}} for t in TICKERS]
    drift = schema_compare(old=before, new=profile(other))
    assert drift["renamed"] == [] and drift["added"] == ["quotes.USD.colour"]
    assert drift["removed"] == ["quotes.USD.price"]
    retyped = [{**t, "id": i} for i, t in enumerate(TICKERS)]
    assert schema_compare(old=before, new=profile(retyped))["retyped"] == [
        {"field": "id", "from": "string", "to": "number"}
    ]


def test_a_short_name_inside_a_long_one_is_not_taken_for_it():
    assert name_similarity("price", "priceusd") == 0.9
    assert name_similarity("ts", "costs") < 0.6


def test_robust_scores_need_history_and_have_a_floor():
    assert robust_score(value=30, history=[300] * 4, floor=1, min_history=5) is None
    assert run_figure_score(metric="read", value=300, history=[300] * 10, min_history=5, threshold=6) is None
    assert run_figure_score(metric="read", value=290, history=[300] * 10, min_history=5, threshold=6) is None
    flagged = run_figure_score(metric="read", value=30, history=[300] * 10, min_history=5, threshold=6)
    assert (flagged.baseline, flagged.score) == (300, -18.0)
    # Faster than usual is no news; slower is.
    assert run_figure_score(metric="duration_seconds", value=0.1, history=[5.0] * 6, min_history=5, threshold=6) is None
    assert run_figure_score(metric="duration_seconds", value=60, history=[5.0] * 6, min_history=5, threshold=6)


def test_price_jumps_and_disagreements():
    steady = [100, 101, 99, 100, 102, 101, 100]
    assert price_jumps(prices=steady, check_from=0, window=20, min_history=5, threshold=6) == []
    ((index, scored),) = price_jumps(prices=[*steady, 10000], check_from=0, window=20, min_history=5, threshold=6)
    assert index == 7 and scored.score > 50
    assert disagreement(price=100, others=[101, 99], ratio=1.5) is None
    assert disagreement(price=300, others=[101, 99, 100], ratio=1.5).score == 3.0


def test_real_coincap_days_drift_only_where_coincap_changed_its_schema():
    days = [profile(json.loads(day.read_text(), parse_float=Decimal)["data"]) for day in COINCAP_DAYS]
    drifts = {
        day.name[-15:-5]: schema_compare(old=a, new=b)
        for day, a, b in zip(COINCAP_DAYS[1:], days, days[1:], strict=False)
    }
    quiet = {"added": [], "removed": [], "retyped": [], "renamed": []}
    # On 2025-05-20 CoinCap began sending each asset's contract addresses by chain id: one new field.
    assert drifts.pop("2025-05-20") == {**quiet, "added": ["tokens"]}
    assert all(drift == quiet for drift in drifts.values()), drifts
