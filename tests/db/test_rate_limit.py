"""The per-source rate limit, shared between processes through the database or Redis."""

import pytest

from etl.sources.ratelimit import RateLimiter
from tests.factories import side_redis_url


@pytest.mark.django_db
@pytest.mark.parametrize("backend", ["database", "redis"])
def test_the_rate_limit_is_shared_between_limiters(settings, backend):
    if backend == "database":
        settings.REDIS_URL = ""
    elif not settings.REDIS_URL:
        settings.REDIS_URL = side_redis_url()
    waits: list[float] = []
    # Two limiters stand for two worker processes: together they keep 10 requests a second.
    first = RateLimiter(source=f"shared-{backend}", rate=10, sleep=waits.append)
    second = RateLimiter(source=f"shared-{backend}", rate=10, sleep=waits.append)
    for limiter in (first, second, first, second):
        limiter.acquire()
    assert len(waits) >= 3
    assert waits == sorted(waits)
    assert 0.25 <= waits[-1] <= 0.35
