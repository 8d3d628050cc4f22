"""Pure parsers for the loose values that files and APIs send.

No database and no network: each function maps text to a value or raises
ValueError with a message fit to show a user, so they can be property-tested.
"""

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

# Cells that mean "no value": a missing figure is not a zero.
_MISSING = frozenset({"", "n/a", "na", "nan", "null", "none", "-", "--", "\u2014", "?"})
_PLAIN = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
# "3.503.853.636.342": a spreadsheet in a locale that groups with dots has rewritten 35038.53636342, and
# where the decimal point was can no longer be told.
_DOT_GROUPED = re.compile(r"[+-]?\d+(?:\.\d+){2,}")
# 29-04-13 23:59, 13/02/2024: day and month in either order, the year last (two digits or four).
_DAY_MONTH = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{2}|\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")
# Nine digits or more: fewer would be the 1970s, and 8 digits is a basic ISO date (20240131).
_EPOCH = re.compile(r"\d{9,}(?:\.\d+)?")

# Epoch values above this are milliseconds (1e11 seconds is the year 5138).
_EPOCH_MS_THRESHOLD = 100_000_000_000
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_DATE_FORMATS = ("%Y/%m/%d", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%b %d, %Y", "%d %b %Y", "%B %d, %Y")


def is_missing(text: str | None) -> bool:
    return text is None or text.strip().casefold() in _MISSING


def parse_decimal(text: str | int | Decimal | None) -> Decimal | None:
    """A number as written, digits kept: plain, with thousands separators, or scientific.

    A leading "$" and a trailing "%" are allowed; an empty or N/A cell is None.
    """
    if text is None or isinstance(text, Decimal):
        return text
    if isinstance(text, int) and not isinstance(text, bool):
        return Decimal(text)
    if not isinstance(text, str):
        raise ValueError(f"not a number: {text!r}")
    if _PLAIN.fullmatch(text):  # the common case, first
        return Decimal(text)
    if is_missing(text):
        return None
    cleaned = text.strip().replace(" ", "").replace("\u00a0", "").replace("_", "")
    if cleaned.startswith("$"):
        cleaned = cleaned[1:]
    elif cleaned[:2] in ("-$", "+$"):
        cleaned = cleaned[0] + cleaned[2:]
    if cleaned.endswith("%"):
        cleaned = cleaned[:-1]
    if _GROUPED.fullmatch(cleaned):
        cleaned = cleaned.replace(",", "")
    if _DOT_GROUPED.fullmatch(cleaned):
        raise ValueError(f"a dot-grouped number, its decimal point lost (a spreadsheet's locale?): {text.strip()!r}")
    if not _PLAIN.fullmatch(cleaned):
        raise ValueError(f"not a number: {text.strip()!r}")
    try:
        return Decimal(cleaned)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only valid literals
        raise ValueError(f"not a number: {text.strip()!r}") from exc


def parse_timestamp(text: str | int | datetime | None) -> datetime:
    """A moment as an aware UTC datetime, from ISO 8601, a few spelled-out forms or Unix epoch (s or ms).

    Naive times are taken as UTC. Day-and-month forms (29-04-13, 13/02/2024) are read
    only where one order alone makes a date; 01/02/2024 is refused rather than guessed.
    """
    if isinstance(text, datetime):
        moment = text if text.tzinfo else text.replace(tzinfo=UTC)
        return _in_range(moment.astimezone(UTC), str(text))
    if text is None or (isinstance(text, str) and is_missing(text)):
        raise ValueError("missing timestamp")
    raw = str(text).strip()
    if _EPOCH.fullmatch(raw):
        seconds = Decimal(raw)
        if seconds >= _EPOCH_MS_THRESHOLD:
            seconds /= 1000
        try:
            moment = datetime.fromtimestamp(float(seconds), tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"timestamp out of range: {raw!r}") from exc
        return _in_range(moment, raw)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        day_month = _DAY_MONTH.fullmatch(raw)
        moment = _parse_day_month(day_month, raw) if day_month else _parse_spelled_out(raw)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _in_range(moment.astimezone(UTC), raw)


def _parse_day_month(match: re.Match, raw: str) -> datetime:
    first, _, second, year, hour, minute, second_of_minute = match.groups()
    full_year = int(year) if len(year) == 4 else (2000 if int(year) < 69 else 1900) + int(year)  # POSIX %y
    clock = (int(hour or 0), int(minute or 0), int(second_of_minute or 0))
    readings = set()
    for day, month in ((first, second), (second, first)):
        try:
            readings.add(datetime(full_year, int(month), int(day), *clock))
        except ValueError:
            continue
    if len(readings) > 1:
        raise ValueError(f"ambiguous date: {raw!r} could be day-month or month-day (use ISO 8601, e.g. 2013-04-29)")
    if not readings:
        raise ValueError(f"not a date or time: {raw!r}")
    return readings.pop()


def _parse_spelled_out(raw: str) -> datetime:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(raw, fmt)
        except ValueError:
            continue
    raise ValueError(f"not a date or time: {raw!r} (use ISO 8601, e.g. 2024-01-31T12:00:00Z, or Unix epoch)")


def _in_range(moment: datetime, raw: str) -> datetime:
    if not _EARLIEST <= moment < _LATEST:
        raise ValueError(f"timestamp out of range: {raw!r} (must be between 2000 and 2100)")
    return moment


def fold_header(header: str) -> str:
    """A header compared the way the alias table is: case, spaces, underscores and punctuation ignored."""
    return re.sub(r"[^0-9a-z]", "", header.casefold())
