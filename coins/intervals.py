"""Hours and days in SQL and in Python: where an interval starts and ends, the same on PostgreSQL and SQLite."""

from datetime import UTC, datetime, timedelta

from django.db import connection

INTERVALS = {"1h": timedelta(hours=1), "1d": timedelta(days=1)}
_UNITS = {"1h": "hour", "1d": "day"}
# SQLite keeps a moment as text ('2024-11-21 13:00:00'); these formats cut it to its interval's start.
_SQLITE_STARTS = {"hour": "%%Y-%%m-%%d %%H:00:00", "day": "%%Y-%%m-%%d 00:00:00"}


def interval_start_sql(*, column: str, interval: str) -> str:
    """SQL for the start of the interval (1h or 1d, UTC) that `column`, a moment, falls in."""
    unit = _UNITS[interval]
    if connection.vendor == "postgresql":
        return f"date_trunc('{unit}', {column})"
    return f"strftime('{_SQLITE_STARTS[unit]}', {column})"


def interval_end_sql(*, column: str, interval: str) -> str:
    """SQL for the moment one interval after `column`."""
    unit = _UNITS[interval]
    if connection.vendor == "postgresql":
        return f"({column} + interval '1 {unit}')"
    return f"datetime({column}, '+1 {unit}')"


def exact_sql(expression: str) -> str:
    """A NUMERIC result without the trailing zeros PostgreSQL's division and average pad it with."""
    return f"trim_scale({expression})" if connection.vendor == "postgresql" else expression


def interval_floor(moment: datetime, *, interval: str) -> datetime:
    """The start of the interval `moment` falls in (UTC)."""
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if interval == "1d" else moment


def interval_ceil(moment: datetime, *, interval: str) -> datetime:
    """The first interval start at or after `moment`."""
    floor = interval_floor(moment, interval=interval)
    return floor if floor == moment else floor + INTERVALS[interval]
