from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from coins.models import Coin, Quote, SourceListing


@extend_schema_field(OpenApiTypes.STR)
class DecimalString(serializers.Field):
    """A NUMERIC as a plain string with the source's digits: 0.000000012, never 1.2E-8 or a float."""

    def to_representation(self, value: Decimal) -> str:
        return format(value, "f")


class CoinQuoteSerializer(serializers.ModelSerializer):
    """A quote as its coin shows it: the source, the moment and the market figures."""

    price_usd = DecimalString()
    market_cap_usd = DecimalString(allow_null=True)
    volume_24h_usd = DecimalString(allow_null=True)
    percent_change_24h = DecimalString(allow_null=True)

    class Meta:
        model = Quote
        fields = ["source", "as_of", "price_usd", "market_cap_usd", "volume_24h_usd", "percent_change_24h", "rank"]
        read_only_fields = fields


class QuoteSerializer(CoinQuoteSerializer):
    """A unified quote with its coin, as /data serves it."""

    coin = serializers.CharField(source="coin.slug")
    symbol = serializers.CharField(source="coin.symbol")
    name = serializers.CharField(source="coin.name")
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


class ListingSerializer(serializers.ModelSerializer):
    """How a source names the coin, and why it is taken to be this coin."""

    runner_up = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True, help_text="The next-best coin, if any."
    )
    reviewed = serializers.BooleanField(read_only=True, help_text="Confirmed or re-pointed by an operator.")
    evidence = serializers.JSONField(read_only=True, help_text="The rule and the evidence that decided it.")

    class Meta:
        model = SourceListing
        fields = [
            "source",
            "source_id",
            "symbol",
            "name",
            "match_rule",
            "confidence",
            "score",
            "evidence",
            "runner_up",
            "runner_up_score",
            "reviewed",
        ]
        read_only_fields = fields


class CoinSerializer(serializers.ModelSerializer):
    listings = ListingSerializer(many=True, read_only=True)
    latest_quotes = CoinQuoteSerializer(many=True, read_only=True, help_text="The newest quote from each source.")

    class Meta:
        model = Coin
        fields = ["slug", "symbol", "name", "rank", "provisional", "listings", "latest_quotes"]
        read_only_fields = fields


class QuoteFlagSerializer(serializers.Serializer):
    """A flag the pipeline raised on a quote (etl's Anomaly, reached by the quote's reverse relation)."""

    kind = serializers.CharField(help_text="price_jump or price_disagreement.")
    metric = serializers.CharField()
    value = serializers.FloatField()
    baseline = serializers.FloatField()
    score = serializers.FloatField()
    detail = serializers.CharField()
    run = serializers.IntegerField(source="run_id")
    reviewed = serializers.BooleanField()


class FlaggedQuoteSerializer(CoinQuoteSerializer):
    anomalies = QuoteFlagSerializer(many=True, read_only=True, source="flags")

    class Meta(CoinQuoteSerializer.Meta):
        fields = [*CoinQuoteSerializer.Meta.fields, "anomalies"]
        read_only_fields = fields


class CoinDetailSerializer(CoinSerializer):
    latest_quotes = FlaggedQuoteSerializer(many=True, read_only=True, help_text="The newest quote from each source.")
    history = FlaggedQuoteSerializer(
        many=True, read_only=True, help_text="The newest quotes from each source, by source, newest first."
    )

    class Meta(CoinSerializer.Meta):
        fields = [*CoinSerializer.Meta.fields, "history"]
        read_only_fields = fields


class CoinFilterSerializer(serializers.Serializer):
    """The query parameters of GET /coins, other than paging."""

    symbol = serializers.CharField(
        required=False, allow_blank=True, max_length=40, help_text="Ticker symbol, exact, any case (btc)."
    )
    search = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Part of the name, slug or symbol, any case."
    )


class CoinHistorySerializer(serializers.Serializer):
    """The query parameters of GET /coins/{slug}."""

    history = serializers.IntegerField(
        required=False, default=24, min_value=1, max_value=500, help_text="Quotes per source in `history`."
    )
