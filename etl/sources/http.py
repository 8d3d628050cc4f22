"""HTTP for the API sources: one session, timeouts, retries with backoff and jitter, a shared rate limit.

Retries cover what a later attempt can fix: timeouts, dropped connections, 429
(waiting as long as Retry-After asks), 5xx, and bodies cut short or garbled on
the way. Other 4xx answers are final. Every attempt first takes a slot from the
source's rate limiter, which all worker processes share.
"""

import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

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
    """What failed (`what`: "connection failed") and the short why (`detail`)."""

    def __init__(self, what: str, detail: str, *, retry_after: float | None = None):
        super().__init__(f"{what}: {detail}")
        self.what, self.detail, self.retry_after = what, detail, retry_after


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
        """The decoded body (floats as Decimal, digits kept), or SourceError saying why not.

        A SourceError says what failed once and briefly ("connection failed after 5 attempts: cannot
        resolve host"); the run names the source in front of it.
        """
        for attempt in range(self.policy.max_retries + 1):
            self.rate_limiter.acquire()
            self.stats.requests += 1
            try:
                return self._attempt(url, params)
            except _Retryable as exc:
                if attempt == self.policy.max_retries:
                    raise SourceError(f"{exc.what} after {attempt + 1} attempts: {exc.detail}") from exc
                delay = exc.retry_after if exc.retry_after is not None else self.policy.backoff(attempt)
                if delay > self.policy.retry_after_max_seconds:
                    raise SourceError(f"{exc.what}, and the source asks to wait {delay:.0f} s: {exc.detail}") from exc
                self.stats.retries += 1
                logger.warning("%s: %s: %s; retry %d in %.2f s", url, exc.what, exc.detail, attempt + 1, delay)
                self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, url: str, params: dict | None) -> Any:
        try:
            response = self.session.get(url, params=params, headers=self.headers, timeout=self.timeout)
        except requests.Timeout as exc:
            raise _Retryable("timed out", _cause(exc)) from exc
        except requests.ConnectionError as exc:
            raise _Retryable("connection failed", _cause(exc)) from exc
        if response.status_code in _RETRY_STATUSES:
            if response.status_code == 429:
                self.stats.throttled += 1
            raise _Retryable(
                f"HTTP {response.status_code}",
                _excerpt(response),
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        if response.status_code >= 400:
            raise SourceError(f"HTTP {response.status_code} from {_path(url)}: {_excerpt(response)}")
        try:
            return json.loads(response.content, parse_float=Decimal)
        except (ValueError, requests.RequestException) as exc:
            raise _Retryable("the response is not JSON", _excerpt(response)) from exc


def source_http(*, source: str, rate: float, headers: dict[str, str]) -> SourceHttp:
    """A client for one source, configured from settings."""
    return SourceHttp(
        source=source,
        rate_limiter=RateLimiter(source=source, rate=rate),
        policy=RetryPolicy.from_settings(),
        timeout=(settings.SOURCE_CONNECT_TIMEOUT, settings.SOURCE_READ_TIMEOUT),
        headers={"Accept": "application/json", "User-Agent": "kasparro-etl/1.0", **headers},
    )


_EXCERPT_CHARACTERS = 120
# urllib3 names the connection object in front of what went wrong: "HTTPSConnection(host='h', port=443): ...".
_CONNECTION_PREFIX = re.compile(r"^\w*Connection(?:Pool)?\(host='(?P<host>[^']*)', port=(?P<port>\d+)\): ")


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text[:_EXCERPT_CHARACTERS] + ("..." if len(text) > _EXCERPT_CHARACTERS else "")


def _excerpt(response: requests.Response) -> str:
    return _short(response.text) or "(empty body)"


def _cause(exc: requests.RequestException) -> str:
    """The innermost reason of a requests/urllib3 failure, without the layers each wraps around it."""
    # requests wraps urllib3's MaxRetryError in its first argument, which keeps the real one in `reason`.
    reason: BaseException = exc
    while True:
        inner = getattr(reason, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next(iter(reason.args), None)
        if not isinstance(inner, BaseException) or inner is reason:
            break
        reason = inner
    text = str(reason)
    if match := _CONNECTION_PREFIX.match(text):
        rest = text[match.end() :]
        text = rest if match["host"] in rest else f"{match['host']}:{match['port']}: {rest}"
    text = text.replace("Failed to establish a new connection: ", "")
    return _short(text)


def _path(url: str) -> str:
    return urlsplit(url).path or url


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
