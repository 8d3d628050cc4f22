"""One Redis client (and connection pool) per URL and behaviour, shared by everything in a process."""

from functools import cache

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


@cache
def redis_client(*, url: str, fail_fast_seconds: float | None = None) -> redis.Redis:
    """A client for `url`; with `fail_fast_seconds`, every call gives up after that long, never retrying
    (for work a request must not wait on, such as counting it)."""
    if fail_fast_seconds is None:
        return redis.Redis.from_url(url, decode_responses=True)
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=fail_fast_seconds,
        socket_connect_timeout=fail_fast_seconds,
        retry=Retry(NoBackoff(), 0),
    )
