from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from coins.models import Quote


@extend_schema_field(OpenApiTypes.STR)
class DecimalString(serializers.Field):
    """A NUMERIC as a plain string with the source's digits: 0.000000012, never 1.2E-8 or a float."""

    def to_representation(self, value: Decimal) -> str:
        return format(value, "f")


class QuoteSerializer(serializers.ModelSerializer):
    coin = serializers.CharField(source="coin.slug")
    symbol = serializers.CharField(source="coin.symbol")
    name = serializers.CharField(source="coin.name")
    price_usd = DecimalString()
    market_cap_usd = DecimalString(allow_null=True)
    volume_24h_usd = DecimalString(allow_null=True)
    percent_change_24h = DecimalString(allow_null=True)
    circulating_supply = DecimalString(allow_null=True)
    total_supply = DecimalString(allow_null=True)
    max_supply = DecimalString(allow_null=True)
    ingested_at = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = Quote
        fields = [
            "id",
            "coin",
            "symbol",
            "name",
            "source",
            "as_of",
            "price_usd",
            "market_cap_usd",
            "volume_24h_usd",
            "percent_change_24h",
            "rank",
            "circulating_supply",
            "total_supply",
            "max_supply",
            "run",
            "ingested_at",
        ]
        read_only_fields = fields
