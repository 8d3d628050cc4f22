"""Bounds on the values a request can carry into a query: past them the database, not the request,
would fail (a 500). Pure, so a parameter, a filter and a cursor all check the same way."""

from datetime import datetime, timedelta
from decimal import Decimal

# PostgreSQL's NUMERIC: up to 131072 digits before the point, 16383 after it.
_NUMERIC_MAX_ADJUSTED = 131071
_NUMERIC_MIN_EXPONENT = -16383
# PostgreSQL's time-zone offsets: at most 15:59 either way.
_OFFSET_MAX = timedelta(hours=15, minutes=59)


def decimal_checked(value: Decimal) -> Decimal:
    """The number, or ValueError if it is not finite or has more digits than NUMERIC holds."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number")
    if value and (value.adjusted() > _NUMERIC_MAX_ADJUSTED or value.as_tuple().exponent < _NUMERIC_MIN_EXPONENT):
        raise ValueError(f"{value:.3e} is out of range")
    return value


def datetime_checked(value: datetime) -> datetime:
    """The moment, or ValueError if its time-zone offset is beyond ±15:59."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) > _OFFSET_MAX:
        raise ValueError("the time-zone offset must be within ±15:59")
    return value
