"""The stored text of an API item is the same whichever way it is written: orjson's fast path or the
plain one. The text is hashed to skip unchanged items, so one differing byte would reload them."""

import json
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from etl.sources.payloads import _json_dumps_exact, json_dumps_exact
from tests.realdata import COINCAP_DAYS, PAPRIKA_TICKERS


def test_real_items_are_written_as_the_plain_path_writes_them():
    tickers = json.loads(PAPRIKA_TICKERS.read_text(), parse_float=Decimal)
    pages = [json.loads(path.read_text(), parse_float=Decimal) for path in COINCAP_DAYS]
    items = [*tickers, *({"timestamp": page["timestamp"], "data": item} for page in pages for item in page["data"])]
    assert len(items) > 2500
    for item in items:
        assert json_dumps_exact(item) == _json_dumps_exact(item)
    assert json.loads(json_dumps_exact(items[0]), parse_float=Decimal) == items[0]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_any_value_is_written_as_the_plain_path_writes_it(value):
    assert json_dumps_exact(value) == _json_dumps_exact(value)
