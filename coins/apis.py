from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.response import Response

from coins.caching import response_cached
from coins.filters import QuoteFilter
from coins.models import Coin
from coins.selectors import coin_get, coins_latest_quotes_prefetch, coins_list, quotes_list
from coins.serializers import (
    CoinDetailSerializer,
    CoinFilterSerializer,
    CoinHistorySerializer,
    CoinSerializer,
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
        return self.get_paginated_response(plan_for(self.get_serializer_class()).many(coins))


class CoinDetailView(ApiContract, ReadApiMixin, GenericAPIView):
    """One coin: its listings, its latest quote from each source and its recent quotes per source."""

    serializer_class = CoinDetailSerializer
    query_serializer = CoinHistorySerializer

    @extend_schema(
        parameters=[CoinHistorySerializer],
        responses={
            200: CoinDetailSerializer,
            400: BAD_PARAMETER,
            404: OpenApiResponse(description="No coin has that slug."),
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
            raise NotFound(f"No coin has the slug {slug!r}.") from None
        return Response(plan_for(self.get_serializer_class()).one(coin))
