"""GET bodies of the market-data endpoints, cached until the ETL commits new data.

The data changes only when a run writes quotes (hourly), while the same pages
are asked for again and again. Every cache key carries the data version, which
the pipeline bumps after each batch that wrote something, so a cached page is
never older than the last committed batch (API_CACHE_SECONDS bounds the rest:
an operator's edit in the admin). Only the per-request meta (request id,
latency) is made afresh.
"""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from rest_framework.response import Response

from core.hashing import short_hash
from core.middleware import request_meta

logger = logging.getLogger(__name__)

DATA_VERSION_KEY = "kasparro:data-version"


def data_version() -> int:
    # A version is a moment, never reused: if the key is evicted, the next one is new,
    # so a page cached under an earlier version can never be served again.
    return cache.get_or_set(DATA_VERSION_KEY, time.time_ns, timeout=None)


def data_version_bump() -> None:
    """New data is committed: every cached page is out of date. A cache that is down is only logged."""
    try:
        cache.set(DATA_VERSION_KEY, time.time_ns(), timeout=None)
    except Exception:
        logger.exception("could not invalidate the API cache")


def response_cached(request, build: Callable[[], Response]) -> Response:
    """The view's response for this URL at this data version: from the cache, or built and stored."""
    seconds = settings.API_CACHE_SECONDS
    if not seconds:
        return build()
    url = short_hash(request.build_absolute_uri())
    try:
        key = f"kasparro:api:{data_version()}:{url}"
        data = cache.get(key)
    except Exception:
        logger.warning("API cache unavailable; serving uncached", exc_info=True)
        return build()
    if data is None:
        response = build()
        if response.status_code == 200:
            try:
                cache.set(key, response.data, seconds)
            except Exception:
                logger.warning("API cache unavailable; not stored", exc_info=True)
        response["X-Cache"] = "miss"
        return response
    if isinstance(data, dict) and "meta" in data:
        data = {**data, "meta": {**data["meta"], **request_meta(request)}}
    return Response(data, headers={"X-Cache": "hit"})
