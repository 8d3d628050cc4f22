"""Hours and days in SQL and in Python: where an interval starts and ends, the same on PostgreSQL and SQLite."""

from datetime import UTC, datetime, timedelta

from django.db import connection

INTERVALS = {"1h": timedelta(hours=1), "1d": timedelta(days=1)}
_UNITS = {"1h": "hour", "1d": "day"}
# A run's touched intervals are read as at most this many ranges of moments (interval_ranges), so a run that
# wrote an hour of last year and one of today reads those two hours, not the year between (257 -> 5.6 ms for
# the consensus on the bench's 1,000,000 quotes). Past it, the narrowest gaps are read too.
MAX_RANGES = 32
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


def interval_ranges(starts: list[datetime], *, interval: str, limit: int) -> list[tuple[datetime, datetime]]:
    """[low, high) moment ranges, in time order, covering the intervals that begin at `starts`: one for each run
    of consecutive intervals, or, where there are more runs than `limit`, the narrowest gaps between them closed
    (read as well) until `limit` ranges are left."""
    step = INTERVALS[interval]
    ordered = sorted(set(starts))
    if not ordered:
        return []
    # A gap is the index of the start after it; the widest limit - 1 of them stay gaps, the rest are read.
    gaps = [i for i in range(1, len(ordered)) if ordered[i] - ordered[i - 1] > step]
    kept = sorted(sorted(gaps, key=lambda i: ordered[i] - ordered[i - 1], reverse=True)[: max(limit - 1, 0)])
    return [
        (ordered[first], ordered[after - 1] + step)
        for first, after in zip([0, *kept], [*kept, len(ordered)], strict=True)
    ]


def ranges_bounds(*, cursor, starts_sql: str, params: list, interval: str) -> list:
    """The interval_ranges of the interval starts `starts_sql` selects, as ranges_sql's parameters."""
    cursor.execute(starts_sql, params)
    starts = [moment_parsed(start) for (start,) in cursor.fetchall()]
    ranges = interval_ranges(starts, interval=interval, limit=MAX_RANGES)
    return [connection.ops.adapt_datetimefield_value(moment) for bound in ranges for moment in bound]


def ranges_sql(bounds: list) -> str:
    """SQL keeping the quotes (q) inside the ranges of moments whose bounds (ranges_bounds) are its parameters."""
    return "(" + (" OR ".join(["(q.as_of >= %s AND q.as_of < %s)"] * (len(bounds) // 2)) or "false") + ")"


def moment_parsed(value) -> datetime:
    """A moment the database answered, in UTC: PostgreSQL answers a moment; SQLite a naive one in UTC for a stored
    column and text for one it computed (strftime)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
