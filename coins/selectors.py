"""Reads of the served domain. Views call these; nothing here writes."""

from django.db.models import QuerySet

from coins.models import Quote


def quotes_list() -> QuerySet[Quote]:
    """Every unified quote with its coin, ready for filtering and keyset pagination."""
    return Quote.objects.select_related("coin")
