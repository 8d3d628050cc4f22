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
import urllib3
from django.conf import settings
from django.utils import timezone

from etl.sources.errors import SourceError
from etl.sources.ratelimit import RateLimiter

logger = logging.getLogger(__name__)

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Read and inflated a piece at a time, so neither a huge body nor a gzip bomb is ever held past its limit.
_CHUNK = 1 << 16
# The inflation ratio is judged once this much has been inflated: a body's first bytes may compress far better.
_INFLATION_GRACE = 1 << 20


@dataclass(frozen=True)
class BodyLimits:
    deadline_seconds: float
    max_bytes: int
    max_inflation: float

    @classmethod
    def from_settings(cls) -> "BodyLimits":
        return cls(
            deadline_seconds=settings.SOURCE_REQUEST_DEADLINE_SECONDS,
            max_bytes=settings.SOURCE_MAX_BODY_BYTES,
            max_inflation=settings.SOURCE_MAX_INFLATION,
        )


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
    limits: BodyLimits = field(default_factory=BodyLimits.from_settings)
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
        started = time.monotonic()
        try:
            response = self.session.get(url, params=params, headers=self.headers, timeout=self.timeout, stream=True)
        except requests.Timeout as exc:
            raise _Retryable("timed out", _cause(exc)) from exc
        except requests.ConnectionError as exc:
            raise _Retryable("connection failed", _cause(exc)) from exc
        with response:
            body = self._body_read(response, started=started)
        if response.status_code in _RETRY_STATUSES:
            if response.status_code == 429:
                self.stats.throttled += 1
            raise _Retryable(
                f"HTTP {response.status_code}",
                _excerpt(body),
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        if response.status_code >= 400:
            raise SourceError(f"HTTP {response.status_code} from {_path(url)}: {_excerpt(body)}")
        try:
            return json.loads(body, parse_float=Decimal)
        except ValueError as exc:
            raise _Retryable("the response is not JSON", _excerpt(body)) from exc

    def _body_read(self, response: requests.Response, *, started: float) -> bytes:
        """The decoded body, read within the deadline and the size limits, or why it was not."""
        limits = self.limits
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limits.max_bytes:
            raise SourceError(_too_large(f"the response declares {int(declared):,} bytes", limits))
        parts, size = [], 0
        try:
            while chunk := response.raw.read1(_CHUNK, decode_content=True):
                size += len(chunk)
                if size > limits.max_bytes:
                    raise SourceError(_too_large(f"the response is over {limits.max_bytes:,} bytes", limits))
                wire = max(response.raw.tell(), 1)
                if size > _INFLATION_GRACE and size > wire * limits.max_inflation:
                    raise SourceError(
                        f"the response inflates more than {limits.max_inflation:g} times its {wire:,} bytes "
                        "(a decompression bomb?); SOURCE_MAX_INFLATION sets the limit"
                    )
                if time.monotonic() - started > limits.deadline_seconds:
                    raise _Retryable(
                        "too slow",
                        f"the whole response took longer than {limits.deadline_seconds:g} s "
                        f"({size:,} bytes by then; SOURCE_REQUEST_DEADLINE_SECONDS)",
                    )
                parts.append(chunk)
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise _Retryable("timed out", _cause(exc)) from exc
        except (urllib3.exceptions.ProtocolError, urllib3.exceptions.DecodeError) as exc:
            raise _Retryable("the response was cut short or garbled", _cause(exc)) from exc
        return b"".join(parts)


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


def _excerpt(body: bytes) -> str:
    return _short(body[: _EXCERPT_CHARACTERS * 4].decode("utf-8", errors="replace")) or "(empty body)"


def _too_large(what: str, limits: BodyLimits) -> str:
    return f"{what}, over the limit of {limits.max_bytes:,} (SOURCE_MAX_BODY_BYTES)"


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
