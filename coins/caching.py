"""GET bodies of the market-data endpoints, cached until the ETL commits new data.

The data changes only when a run writes quotes (hourly), while the same pages
are asked for again and again. Every cache key carries the data version, which
the pipeline bumps after each batch that wrote something, so a cached page is
never older than the last committed batch (API_CACHE_SECONDS bounds the rest:
an operator's edit in the admin). Only the per-request meta (request id,
latency) is made afresh.
"""

import hashlib
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from rest_framework.response import Response

from kasparro.middleware import request_meta

DATA_VERSION_KEY = "kasparro:data-version"


def data_version() -> int:
    return cache.get_or_set(DATA_VERSION_KEY, 1, timeout=None)


def data_version_bump() -> None:
    """New data is committed: every cached page is out of date."""
    try:
        cache.incr(DATA_VERSION_KEY)
    except ValueError:  # the key was evicted or never set
        cache.set(DATA_VERSION_KEY, 2, timeout=None)


def response_cached(request, build: Callable[[], Response]) -> Response:
    """The view's response for this URL at this data version: from the cache, or built and stored."""
    seconds = settings.API_CACHE_SECONDS
    if not seconds:
        return build()
    url = hashlib.blake2b(request.build_absolute_uri().encode(), digest_size=16).hexdigest()
    key = f"kasparro:api:{data_version()}:{url}"
    data = cache.get(key)
    if data is None:
        response = build()
        if response.status_code == 200:
            cache.set(key, response.data, seconds)
        response["X-Cache"] = "miss"
        return response
    if isinstance(data, dict) and "meta" in data:
        data = {**data, "meta": {**data["meta"], **request_meta(request)}}
    return Response(data, headers={"X-Cache": "hit"})
