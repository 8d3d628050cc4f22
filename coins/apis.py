import functools

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.response import Response

from coins.caching import response_cached
from coins.filters import QuoteFilter
from coins.history import coin_history_candles_json, coin_history_end
from coins.models import Coin
from coins.selectors import (
    coin_get,
    coin_id_get,
    coins_consensus_prefetch,
    coins_latest_quotes_prefetch,
    coins_list,
    disagreements_list,
    quotes_list,
)
from coins.serializers import (
    CoinDetailSerializer,
    CoinFilterSerializer,
    CoinHistorySerializer,
    CoinSerializer,
    DisagreementFilterSerializer,
    DisagreementSerializer,
    PriceHistoryParamsSerializer,
    PriceHistorySerializer,
    QuoteSerializer,
)
from core.access import ReadApiMixin
from core.api import ApiContract
from core.filtering import QueryFilterBackend
from core.pagination import KeysetPagination, NumberedPagination
from core.rows import plan_for

BAD_PARAMETER = OpenApiResponse(description="A bad parameter value; the body names the parameter.")


class QuoteListView(ApiContract, ReadApiMixin, ListAPIView):
    """Unified quotes from every source, newest first, with keyset pagination.

    Numbers are strings that keep the source's digits. A bad filter value, page
    size, ordering or cursor is a 400 that names the parameter.
    """

    serializer_class = QuoteSerializer
    filter_backends = [QueryFilterBackend]
    filterset_class = QuoteFilter
    pagination_class = KeysetPagination

    def get_queryset(self):
        return quotes_list()

    def list(self, request, *args, **kwargs):
        return response_cached(request, self._page)

    def _page(self) -> Response:
        # The serializer's fields, read from `values()`: no model instance and no DRF field walk per cell.
        plan = plan_for(self.get_serializer_class())
        queryset = plan.values_of(self.filter_queryset(self.get_queryset()), *self.paginator.key_fields)
        return self.get_paginated_response(plan.values_rows(self.paginate_queryset(queryset)))


class CoinListView(ApiContract, ReadApiMixin, ListAPIView):
    """Canonical coins by rank (unranked last) then slug, each with its source listings
    and its latest quote from each source.

    Numbers are strings that keep the source's digits. A bad parameter is a 400 that names it.
    """

    serializer_class = CoinSerializer
    pagination_class = NumberedPagination
    filter_backends = []
    query_serializer = CoinFilterSerializer

    def get_queryset(self):
        filters = CoinFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return coins_list(filters=filters.validated_data)

    @extend_schema(parameters=[CoinFilterSerializer], responses={200: CoinSerializer(many=True), 400: BAD_PARAMETER})
    def get(self, request, *args, **kwargs):
        return response_cached(request, self._page)

    def _page(self):
        coins = self.paginate_queryset(self.get_queryset())
        coins_latest_quotes_prefetch(coins=coins)
        coins_consensus_prefetch(coins=coins)
        return self.get_paginated_response(plan_for(self.get_serializer_class()).many(coins))


NO_COIN = OpenApiResponse(description="No coin has that slug.")


class CoinDetailView(ApiContract, ReadApiMixin, GenericAPIView):
    """One coin: its listings, its latest quote from each source and its recent quotes per source."""

    serializer_class = CoinDetailSerializer
    query_serializer = CoinHistorySerializer

    @extend_schema(
        parameters=[CoinHistorySerializer],
        responses={
            200: CoinDetailSerializer,
            400: BAD_PARAMETER,
            404: NO_COIN,
        },
    )
    def get(self, request, slug: str):
        return response_cached(request, lambda: self._coin(request, slug))

    def _coin(self, request, slug: str) -> Response:
        params = CoinHistorySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        try:
            coin = coin_get(slug=slug, history=params.validated_data["history"])
        except Coin.DoesNotExist:
            raise _no_coin(slug) from None
        return Response(plan_for(self.get_serializer_class()).one(coin))


def _no_coin(slug: str) -> NotFound:
    return NotFound(f"No coin has the slug {slug!r}.")


class CoinPriceHistoryView(ApiContract, ReadApiMixin, GenericAPIView):
    """A coin's price history: open, high, low and close (and the last market cap and volume) of each
    interval, one series per source that quoted it and one for the consensus, in time order.

    The window is [from, to): 7 days of 1h by default (365 days of 1d), at most 31 days of 1h or
    366 days of 1d; `to` defaults to the end of the interval of the coin's newest quote.
    A bad parameter is a 400 naming it.
    """

    serializer_class = PriceHistorySerializer
    query_serializer = PriceHistoryParamsSerializer

    @extend_schema(
        parameters=[PriceHistoryParamsSerializer],
        responses={200: PriceHistorySerializer, 400: BAD_PARAMETER, 404: NO_COIN},
    )
    def get(self, request, slug: str):
        return response_cached(request, lambda: self._history(request, slug))

    def _history(self, request, slug: str) -> Response:
        params = PriceHistoryParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        coin_id = coin_id_get(slug=slug)
        if coin_id is None:
            raise _no_coin(slug)
        attrs = params.validated_data
        starts, ends = PriceHistoryParamsSerializer.window(
            attrs, newest_end=lambda: coin_history_end(coin_id=coin_id, interval=attrs["interval"])
        )
        series = coin_history_candles_json(
            coin_id=coin_id, interval=attrs["interval"], starts=starts, ends=ends, source=attrs.get("source", "")
        )
        # The shape PriceHistorySerializer documents, built directly (coins.history.candle_json).
        moment = _history_moment().to_representation
        body = {
            "coin": slug,
            "interval": attrs["interval"],
            "from": moment(starts),
            "to": moment(ends),
            "series": [{"source": name, "candles": candles} for name, candles in series.items()],
        }
        return Response(body)


@functools.cache
def _history_moment() -> serializers.DateTimeField:
    # PriceHistorySerializer's own `from`/`to` field, built once: a serializer's fields are deep copies each time.
    return PriceHistorySerializer().fields["to"]


class DisagreementListView(ApiContract, ReadApiMixin, ListAPIView):
    """Coins whose sources disagreed: the intervals in which a source was further than
    CONSENSUS_OUTLIER_PCT from the median, newest first, each with every source's quote and deviation."""

    serializer_class = DisagreementSerializer
    pagination_class = NumberedPagination
    filter_backends = []
    query_serializer = DisagreementFilterSerializer

    def get_queryset(self):
        filters = DisagreementFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return disagreements_list(**filters.validated_data)

    @extend_schema(
        parameters=[DisagreementFilterSerializer],
        responses={200: DisagreementSerializer(many=True), 400: BAD_PARAMETER},
    )
    def get(self, request, *args, **kwargs):
        return response_cached(request, lambda: super(DisagreementListView, self).get(request, *args, **kwargs))
