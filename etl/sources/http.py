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

import requests
from django.conf import settings
from django.utils import timezone

from etl.sources.errors import SourceError
from etl.sources.ratelimit import RateLimiter

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
        return random.uniform(0, min(self.backoff_max_seconds, self.backoff_seconds * 2**attempt))  # noqa: S311 - jitter

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
    rate_limiter: RateLimiter
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
