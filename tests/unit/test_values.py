"""The bounds a request's values must keep to reach the database (core.values)."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.values import datetime_checked, decimal_checked


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**30), max_value=10**30, places=20))
def test_every_ordinary_price_passes_unchanged(value):
    assert decimal_checked(value) == value


@pytest.mark.parametrize("text", ["NaN", "sNaN", "Infinity", "-Infinity", "1e131072", "1e-16384"])
def test_non_finite_or_oversized_numbers_are_refused(text):
    with pytest.raises(ValueError):
        decimal_checked(Decimal(text))


@given(st.integers(min_value=-(15 * 60 + 59), max_value=15 * 60 + 59))
def test_offsets_within_15_59_pass(minutes):
    moment = datetime(2024, 1, 1, tzinfo=timezone(timedelta(minutes=minutes)))
    assert datetime_checked(moment) == moment


@pytest.mark.parametrize("minutes", [16 * 60, -(16 * 60), 23 * 60 + 59])
def test_offsets_beyond_15_59_are_refused(minutes):
    with pytest.raises(ValueError, match="15:59"):
        datetime_checked(datetime(2024, 1, 1, tzinfo=timezone(timedelta(minutes=minutes))))


def test_naive_and_utc_moments_pass():
    assert datetime_checked(datetime(2024, 1, 1)) == datetime(2024, 1, 1)
    assert datetime_checked(datetime(2024, 1, 1, tzinfo=UTC)).tzinfo is UTC
