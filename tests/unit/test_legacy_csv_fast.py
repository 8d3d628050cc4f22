"""The legacy CSV's fast per-row path against pydantic's: the same values, or a fall back to the model.

`fields_validator` calls the model's own validators directly; whatever it accepts, the model must accept
with the very same values (type, digits, moment), or a quote would depend on which path read its row.
"""

import json
from pathlib import Path
from typing import Annotated

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator

from etl.sources.legacy_csv import LegacyCsvReader, column_map
from etl.sources.legacy_csv.payload import row_payload
from etl.sources.legacy_csv.record import CsvQuote, _row_load
from etl.sources.payloads import describe_validation_error, fields_validator, load_json_object

REALDATA = sorted((Path(__file__).parents[1] / "fixtures" / "realdata" / "csv").glob("*.csv"))
fast = fields_validator(CsvQuote)
# Lone surrogates too, which st.characters() never draws: orjson refuses them, json does not.
ANY_TEXT = st.lists(st.one_of(st.characters(), st.sampled_from(["\ud800", "\udfff", "\x00", "\x1f", "\u2028"]))).map(
    "".join
)


def by_model(values: dict) -> dict | str:
    try:
        return dict(CsvQuote.model_validate(values))
    except ValidationError as exc:
        return describe_validation_error(exc)


def assert_agree(values: dict) -> bool:
    """True when the fast path took the row; then the model gave exactly its values."""
    got = fast(values)
    if got is None:
        return False
    expected = by_model(values)
    assert not isinstance(expected, str), f"the fast path accepted what the model refuses: {expected}"
    assert [(k, type(v), repr(v)) for k, v in got.items()] == [(k, type(v), repr(v)) for k, v in expected.items()]
    return True


@pytest.mark.parametrize("path", REALDATA, ids=lambda p: p.name)
def test_real_rows_read_alike_by_both_paths(path):
    payloads = [item.payload for item in LegacyCsvReader(path=path).extract({})]
    taken = 0
    for payload in payloads:
        data = json.loads(payload)
        taken += assert_agree({field: data[header] for field, header in column_map(tuple(data)).items()})
    # The Excel-mangled file's dot-grouped prices are refused, by the model, with their reason.
    assert taken >= (0 if "MANGLED" in path.name else len(payloads) * 0.9), (taken, len(payloads))


NUMBERS = st.one_of(
    st.sampled_from(["", "n/a", "-", "0", "0.0000", "-3.79", "1e5", "2.4e-05", "1,234.5", "$12", "12%", "1.2.3"]),
    st.sampled_from(["1e200000", "NaN", "Infinity", "+7", ".5", "5.", " 42 ", "1_000", "\u00a01", "0x10"]),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.integers(min_value=-(2**40), max_value=2**40).map(str),
    st.text(max_size=8),
)
MOMENTS = st.one_of(
    st.sampled_from(["2025-06-20T15:00:00Z", "2013-04-29 23:59:59", "29-04-13 23:59", "01/02/2024", "13/02/2024"]),
    st.sampled_from(["1718895600", "1718895600000", "1999-12-31", "2100-01-01", "Jun 20, 2025", "", "soon"]),
    st.datetimes().map(str),
    st.text(max_size=12),
)
TEXT = st.one_of(st.sampled_from(["BTC", "", " ", "$$$", "ΩPLN", "B\x00", "x" * 300]), st.text(max_size=30))
CELLS = st.fixed_dictionaries(
    {
        "symbol": TEXT,
        "name": TEXT,
        "as_of": MOMENTS,
        "price_usd": NUMBERS,
        "market_cap_usd": NUMBERS,
        "percent_change_24h": NUMBERS,
        "rank": NUMBERS,
        "max_supply": NUMBERS,
    }
)


@settings(max_examples=400, deadline=None)
@given(CELLS, st.sets(st.sampled_from(["symbol", "name", "market_cap_usd", "rank", "as_of"])))
def test_generated_cells_read_alike_by_both_paths(cells, absent):
    assert_agree({k: v for k, v in cells.items() if k not in absent})


def test_a_value_pydantic_would_coerce_is_left_to_pydantic():
    class Counted(BaseModel):
        count: Annotated[int, BeforeValidator(str.strip)]

    assert fields_validator(Counted)({"count": " 5 "}) is None
    assert Counted.model_validate({"count": " 5 "}).count == 5


def test_a_model_validated_otherwise_than_by_its_annotations_has_no_fast_path():
    class Stripped(BaseModel):
        model_config = ConfigDict(str_strip_whitespace=True)
        name: str

    class Checked(BaseModel):
        name: str

        @field_validator("name")
        @classmethod
        def _upper(cls, value: str) -> str:
            return value.upper()

    for model in (Stripped, Checked):
        with pytest.raises(TypeError, match="no plain path"):
            fields_validator(model)


def test_the_fast_path_is_taken_for_a_plain_row_and_not_for_a_refused_one():
    row = {"symbol": "BTC", "as_of": "2025-06-20T15:00:00Z", "price_usd": "1.0", "rank": "1"}
    assert assert_agree(row)
    assert fast({**row, "price_usd": "abc"}) is None
    assert fast({k: v for k, v in row.items() if k != "as_of"}) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(ANY_TEXT, min_size=1, max_size=5, unique=True))
def test_a_row_is_staged_as_the_text_json_dumps_writes(cells):
    header = [f"h{i}{c}" for i, c in enumerate(cells)]
    assert row_payload(cells, header) == json.dumps(
        dict(zip(header, cells, strict=True)), ensure_ascii=False, separators=(",", ":")
    )


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        ANY_TEXT,
        st.one_of(ANY_TEXT, st.integers(), st.floats(allow_nan=False), st.none(), st.lists(ANY_TEXT, max_size=2)),
    ),
    st.booleans(),
)
def test_a_staged_row_reads_as_json_loads_reads_it(row, ascii_only):
    payload = json.dumps(row, ensure_ascii=ascii_only)
    assert list(_row_load(payload).items()) == list(load_json_object(payload).items())
