"""A per-source rate limit shared by every worker process: in Redis when there is one, else in the database."""

import time
from collections.abc import Callable

from django.conf import settings
from django.db import transaction

from core.redis import redis_client
from etl.models import RateLimitSlot


class RateLimiter:
    """At most `rate` requests per second for one source, across every process.

    Each caller reserves the next free slot (a time) and sleeps until it. With
    Redis the reservation is one atomic script on Redis's clock; in the
    embedded default it is a row in the database, locked for the update.
    """

    def __init__(self, *, source: str, rate: float, sleep: Callable[[float], None] = time.sleep):
        self.source = source
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.sleep = sleep

    def acquire(self) -> None:
        if self.interval:
            wait = self._reserve()
            if wait > 0:
                self.sleep(wait)

    def _reserve(self) -> float:
        if settings.REDIS_URL:
            return _redis_reserve(self.source, self.interval)
        return _database_reserve(self.source, self.interval)


_RESERVE_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local next_slot = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], tostring(next_slot), 'PX', math.ceil((next_slot - now) * 1000) + 1000)
return tostring(slot - now)
"""


def _redis_reserve(source: str, interval: float) -> float:
    client = redis_client(url=settings.REDIS_URL)
    return float(client.eval(_RESERVE_SCRIPT, 1, f"kasparro:ratelimit:{source}", interval))


def _database_reserve(source: str, interval: float) -> float:
    now = time.time()
    with transaction.atomic():
        slot, _ = RateLimitSlot.objects.select_for_update().get_or_create(source=source)
        start = max(slot.next_at, now)
        slot.next_at = start + interval
        slot.save(update_fields=["next_at"])
    return start - now
