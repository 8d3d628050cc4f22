"""The ranges of moments a run's consensus reads: every touched interval inside one, and no more ranges than the
limit, the narrowest gaps between touched intervals the ones read when some must be."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from coins.intervals import INTERVALS, interval_ranges

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
starts_of = st.lists(st.integers(min_value=0, max_value=24 * 400), max_size=80)


def hours(offsets: list[int]) -> list[datetime]:
    return [EPOCH + timedelta(hours=offset) for offset in offsets]


@given(starts_of, st.integers(min_value=1, max_value=40), st.sampled_from(sorted(INTERVALS)))
def test_every_touched_interval_lies_in_one_of_at_most_limit_ranges_in_time_order(offsets, limit, interval):
    step = INTERVALS[interval]
    starts = [EPOCH + step * offset for offset in offsets]
    ranges = interval_ranges(starts, interval=interval, limit=limit)
    assert len(ranges) <= limit and bool(ranges) == bool(starts)
    assert all(low < high <= next_low for (low, high), (next_low, _) in pairwise(ranges))
    for start in starts:
        assert sum(low <= start and start + step <= high for low, high in ranges) == 1
    # Each range starts and ends on a touched interval: nothing read before the first or after the last.
    assert all(low in starts and high - step in starts for low, high in ranges)


@given(starts_of, st.integers(min_value=1, max_value=40))
def test_within_the_limit_only_the_touched_hours_are_read_and_past_it_the_narrowest_gaps(offsets, limit):
    ranges = interval_ranges(hours(offsets), interval="1h", limit=limit)
    touched = set(offsets)
    runs = sum(1 for offset in touched if offset - 1 not in touched)
    read = sum((high - low) // timedelta(hours=1) for low, high in ranges)
    if runs <= limit:
        assert len(ranges) == runs and read == len(touched)
    else:
        ordered = sorted(touched)
        gaps = [later - earlier for earlier, later in pairwise(ordered) if later - earlier > 1]
        kept = [(next_low - high) // timedelta(hours=1) + 1 for (_, high), (next_low, _) in pairwise(ranges)]
        closed = sorted(gaps, reverse=True)[len(kept) :]
        assert len(ranges) == limit and sorted(kept, reverse=True) == sorted(gaps, reverse=True)[: len(kept)]
        assert read == len(touched) + sum(gap - 1 for gap in closed)


def test_an_hour_of_last_year_and_one_of_today_are_two_ranges_of_an_hour():
    old, new = datetime(2025, 1, 5, 13, tzinfo=UTC), datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert interval_ranges([new, old, new], interval="1h", limit=32) == [
        (old, old + timedelta(hours=1)),
        (new, new + timedelta(hours=1)),
    ]
