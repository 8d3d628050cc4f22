from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.generics import ListAPIView

from coins.filters import QuoteFilter
from coins.pagination import KeysetPagination
from coins.selectors import quotes_list
from coins.serializers import QuoteSerializer


class QuoteListView(ListAPIView):
    """Unified quotes from every source, newest first, with keyset pagination.

    Numbers are strings that keep the source's digits. A bad filter value, page
    size, ordering or cursor is a 400 that names the parameter.
    """

    serializer_class = QuoteSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = QuoteFilter
    pagination_class = KeysetPagination

    def get_queryset(self):
        return quotes_list()
