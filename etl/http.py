"""HTTP for the API sources: one session, timeouts, retries with backoff and jitter, a shared rate limit.

Retries cover what a later attempt can fix: timeouts, dropped connections, 429
(waiting as long as Retry-After asks), 5xx, and bodies cut short or garbled on
the way. Other 4xx answers are final. Every attempt first takes a slot from the
source's rate limiter, which all worker processes share.
"""

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import redis
import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from etl.models import RateLimitSlot
from etl.sources.base import SourceError

logger = logging.getLogger(__name__)

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass
class HttpStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0  # answers of 429


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    backoff_seconds: float
    backoff_max_seconds: float
    retry_after_max_seconds: float

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter, so workers that failed together retry apart."""
        return random.uniform(0, min(self.backoff_max_seconds, self.backoff_seconds * 2**attempt))

    @classmethod
    def from_settings(cls) -> "RetryPolicy":
        return cls(
            max_retries=settings.SOURCE_MAX_RETRIES,
            backoff_seconds=settings.SOURCE_BACKOFF_SECONDS,
            backoff_max_seconds=settings.SOURCE_BACKOFF_MAX_SECONDS,
            retry_after_max_seconds=settings.SOURCE_RETRY_AFTER_MAX_SECONDS,
        )


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass
class SourceHttp:
    """GETs JSON for one source with its retry policy and rate limit; counts what it did."""

    source: str
    rate_limiter: "RateLimiter"
    policy: RetryPolicy
    timeout: tuple[float, float]
    headers: dict[str, str] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep
    stats: HttpStats = field(default_factory=HttpStats)

    def get_json(self, url: str, *, params: dict | None = None) -> Any:
        """The decoded body (floats as Decimal, digits kept), or SourceError saying why not."""
        for attempt in range(self.policy.max_retries + 1):
            self.rate_limiter.acquire()
            self.stats.requests += 1
            try:
                return self._attempt(url, params)
            except _Retryable as exc:
                if attempt == self.policy.max_retries:
                    raise SourceError(f"{self.source}: {exc} (gave up after {attempt + 1} attempts)") from exc
                delay = exc.retry_after if exc.retry_after is not None else self.policy.backoff(attempt)
                if delay > self.policy.retry_after_max_seconds:
                    raise SourceError(f"{self.source}: {exc}; the source asks to wait {delay:.0f} s") from exc
                self.stats.retries += 1
                logger.warning("%s: %s; retry %d in %.2f s", self.source, exc, attempt + 1, delay)
                self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, url: str, params: dict | None) -> Any:
        try:
            response = self.session.get(url, params=params, headers=self.headers, timeout=self.timeout)
        except requests.Timeout as exc:
            raise _Retryable(f"timed out: {url}") from exc
        except requests.ConnectionError as exc:
            raise _Retryable(f"connection failed: {url}: {exc}") from exc
        if response.status_code in _RETRY_STATUSES:
            if response.status_code == 429:
                self.stats.throttled += 1
            raise _Retryable(
                f"HTTP {response.status_code} from {url}: {_excerpt(response)}",
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        if response.status_code >= 400:
            raise SourceError(f"{self.source}: HTTP {response.status_code} from {url}: {_excerpt(response)}")
        try:
            return json.loads(response.content, parse_float=Decimal)
        except (ValueError, requests.RequestException) as exc:
            raise _Retryable(f"response from {url} is not JSON ({exc}): {_excerpt(response)}") from exc


def source_http(*, source: str, rate: float, headers: dict[str, str]) -> SourceHttp:
    """A client for one source, configured from settings."""
    return SourceHttp(
        source=source,
        rate_limiter=RateLimiter(source=source, rate=rate),
        policy=RetryPolicy.from_settings(),
        timeout=(settings.SOURCE_CONNECT_TIMEOUT, settings.SOURCE_READ_TIMEOUT),
        headers={"Accept": "application/json", "User-Agent": "kasparro-etl/1.0", **headers},
    )


def _excerpt(response: requests.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:200] + ("..." if len(text) > 200 else "")


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - timezone.now()).total_seconds())
    except (TypeError, ValueError):
        return None


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
_redis_clients: dict[str, Any] = {}


def _redis_reserve(source: str, interval: float) -> float:
    client = _redis_clients.get(settings.REDIS_URL)
    if client is None:
        client = _redis_clients[settings.REDIS_URL] = redis.Redis.from_url(settings.REDIS_URL)
    return float(client.eval(_RESERVE_SCRIPT, 1, f"kasparro:ratelimit:{source}", interval))


def _database_reserve(source: str, interval: float) -> float:
    now = time.time()
    with transaction.atomic():
        slot, _ = RateLimitSlot.objects.select_for_update().get_or_create(source=source)
        start = max(slot.next_at, now)
        slot.next_at = start + interval
        slot.save(update_fields=["next_at"])
    return start - now
