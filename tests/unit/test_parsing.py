from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etl.pipeline.keys import name_key
from etl.sources.parsing import fold_header, parse_decimal, parse_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("41389.57931641128", Decimal("41389.57931641128")),
        ("1,234,567.89", Decimal("1234567.89")),
        ("1,000", Decimal("1000")),
        ("1.5e-8", Decimal("1.5E-8")),
        ("2.466542E-05", Decimal("0.00002466542")),
        ("  42 ", Decimal("42")),
        ("$1,250.50", Decimal("1250.50")),
        ("-3.25%", Decimal("-3.25")),
        (".5", Decimal("0.5")),
        ("62596198052.8648707737382150", Decimal("62596198052.8648707737382150")),
    ],
)
def test_parse_decimal_reads_the_forms_exports_use(text, expected):
    assert parse_decimal(text) == expected


def test_parse_decimal_keeps_every_digit():
    assert str(parse_decimal("62596198052.8648707737382150")) == "62596198052.8648707737382150"


@pytest.mark.parametrize("text", ["", "  ", "N/A", "null", "NaN", "-", "none"])
def test_empty_and_placeholder_cells_are_missing_not_zero(text):
    assert parse_decimal(text) is None


@pytest.mark.parametrize("text", ["abc", "12,34", "1,2345", "inf", "1e", "--5", "1 000 000x", "0x10"])
def test_parse_decimal_refuses_what_is_not_a_number(text):
    with pytest.raises(ValueError, match="not a number"):
        parse_decimal(text)


@pytest.mark.parametrize("text", ["3.503.853.636.342", "1.2.3", "14.748.800.659.179.600"])
def test_a_dot_grouped_number_is_refused_with_the_reason_not_read_as_another_value(text):
    # What a spreadsheet in a dot-grouping locale makes of 35038.53636342: the decimal point is gone for good.
    with pytest.raises(ValueError, match="a dot-grouped number, its decimal point lost"):
        parse_decimal(text)


finite_decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(lambda d: d.is_finite())


@given(finite_decimals)
def test_any_decimal_round_trips_plain_and_scientific(value):
    assert parse_decimal(str(value)) == value
    assert parse_decimal(format(value, "e")) == value or value.adjusted() > 1000


@given(st.decimals(min_value=0, max_value=10**15, places=2))
def test_thousands_separators_round_trip(value):
    assert parse_decimal(f"{value:,}") == value


@given(st.text(max_size=30))
def test_parse_decimal_fails_only_with_value_error(text):
    try:
        result = parse_decimal(text)
    except ValueError:
        return
    assert result is None or isinstance(result, Decimal)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-31", datetime(2024, 1, 31, tzinfo=UTC)),
        ("2024-01-31T12:30:00Z", datetime(2024, 1, 31, 12, 30, tzinfo=UTC)),
        ("2024-01-31 12:30:00", datetime(2024, 1, 31, 12, 30, tzinfo=UTC)),
        ("2024-01-31T14:30:00+02:00", datetime(2024, 1, 31, 12, 30, tzinfo=UTC)),
        ("20240131", datetime(2024, 1, 31, tzinfo=UTC)),
        ("1706704200", datetime(2024, 1, 31, 12, 30, tzinfo=UTC)),
        ("1706704200000", datetime(2024, 1, 31, 12, 30, tzinfo=UTC)),
        ("2024/01/31", datetime(2024, 1, 31, tzinfo=UTC)),
        ("Jan 31, 2024", datetime(2024, 1, 31, tzinfo=UTC)),
        # Day and month where only one order makes a date (an Excel export's dd-mm-yy), and a day that is its month.
        ("29-04-13 23:59", datetime(2013, 4, 29, 23, 59, tzinfo=UTC)),
        ("13/02/2024", datetime(2024, 2, 13, tzinfo=UTC)),
        ("05-05-13", datetime(2013, 5, 5, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_reads_iso_spelled_out_and_epoch(text, expected):
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("01/02/2024", "ambiguous date"),
        ("01-05-13 23:59", "ambiguous date"),
        ("31-02-13", "not a date"),
        ("yesterday", "not a date"),
        ("", "missing"),
        ("1899-01-01", "out of range"),
        ("99999999999999999", "out of range"),
    ],
)
def test_parse_timestamp_refuses_ambiguous_or_absurd_times(text, message):
    with pytest.raises(ValueError, match=message):
        parse_timestamp(text)


@given(st.integers(min_value=946_684_800, max_value=4_102_444_799))
def test_epoch_seconds_and_milliseconds_agree(seconds):
    assert parse_timestamp(str(seconds)) == parse_timestamp(str(seconds * 1000))


def test_headers_fold_case_spaces_and_underscores():
    assert fold_header("Market Cap") == fold_header("market_cap") == fold_header("MARKETCAP") == "marketcap"
    assert fold_header("Price (USD)") == "priceusd"


def test_names_fold_case_spacing_punctuation_and_accents():
    assert name_key("Bitcoin Cash") == name_key("bitcoin-cash") == name_key("BITCOIN  CASH")
    assert name_key("Pokémon") == name_key("pokemon")
    assert name_key("Bitcoin") != name_key("Bitcoin Cash")
