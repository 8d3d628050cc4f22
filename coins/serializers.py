from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from coins.history import CONSENSUS_SERIES, DEFAULT_SPAN, MAX_SPAN
from coins.models import Coin, Consensus, ConsensusInterval, ConsensusQuote, Quote, SourceListing
from coins.sources import source_names
from core.params import ChoiceParam
from core.values import datetime_checked, decimal_checked


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


class ConsensusQuoteSerializer(serializers.ModelSerializer):
    """A source's last quote in the interval and how far it is from the median, as a fraction."""

    price_usd = DecimalString()
    deviation = DecimalString(allow_null=True, help_text="(price - median) / median; null for a median of 0.")

    class Meta:
        model = ConsensusQuote
        fields = ["source", "as_of", "price_usd", "deviation", "outlier"]
        read_only_fields = fields


class ConsensusSerializer(serializers.ModelSerializer):
    """The median of the sources' last prices in one interval, its spread and the sources beyond the threshold."""

    price_usd = DecimalString(help_text="The median of the sources' last prices in the interval.")
    spread = DecimalString(allow_null=True, help_text="(max - min) / median, a fraction; null for a median of 0.")
    outliers = serializers.SerializerMethodField(
        help_text="Sources further than CONSENSUS_OUTLIER_PCT from the median."
    )
    quotes = ConsensusQuoteSerializer(many=True, read_only=True, source="members")

    class Meta:
        model = Consensus
        fields = ["interval", "starts_at", "price_usd", "sources", "spread", "outliers", "quotes"]
        read_only_fields = fields

    def get_outliers(self, obj: Consensus) -> list[str]:
        return [quote.source for quote in obj.members if quote.outlier]


class DisagreementSerializer(ConsensusSerializer):
    coin = serializers.CharField(source="coin.slug")
    symbol = serializers.CharField(source="coin.symbol")
    name = serializers.CharField(source="coin.name")

    class Meta(ConsensusSerializer.Meta):
        fields = ["coin", "symbol", "name", *ConsensusSerializer.Meta.fields]
        read_only_fields = fields


class CoinSerializer(serializers.ModelSerializer):
    listings = ListingSerializer(many=True, read_only=True)
    latest_quotes = CoinQuoteSerializer(many=True, read_only=True, help_text="The newest quote from each source.")
    consensus = ConsensusSerializer(
        source="latest_consensus", read_only=True, allow_null=True, help_text="The newest interval's consensus."
    )

    class Meta:
        model = Coin
        fields = ["slug", "symbol", "name", "rank", "provisional", "listings", "latest_quotes", "consensus"]
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


class DisagreementFilterSerializer(serializers.Serializer):
    """The query parameters of GET /disagreements, other than paging."""

    min_spread = serializers.DecimalField(
        required=False,
        max_digits=None,
        decimal_places=None,
        min_value=0,
        help_text="Only intervals whose spread is at least this fraction (0.1 for 10%).",
    )

    def get_fields(self):
        # The sources are the registry's, known once the apps are loaded.
        source = ChoiceParam(choices=source_names(), help_text="Only intervals in which this source was an outlier.")
        return {"source": source, **super().get_fields()}

    def validate_min_spread(self, value: Decimal) -> Decimal:
        try:
            return decimal_checked(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class PriceHistoryParamsSerializer(serializers.Serializer):
    """The query parameters of GET /coins/{slug}/history."""

    interval = ChoiceParam(choices=ConsensusInterval.values, help_text="Candle width: 1h (default) or 1d.")
    from_ = serializers.DateTimeField(
        required=False,
        help_text="Start, ISO 8601, inclusive (default: 7 days before `to` for 1h, 365 days for 1d).",
    )
    to = serializers.DateTimeField(
        required=False,
        help_text="End, ISO 8601, exclusive (default: the end of the interval of the coin's newest quote).",
    )

    def get_fields(self):
        # `from` is a Python keyword: the field is declared as from_ and named here; the sources are the registry's.
        fields = super().get_fields()
        source = ChoiceParam(
            choices=[*source_names(), CONSENSUS_SERIES], help_text="One series only: a source, or consensus."
        )
        return {"interval": fields["interval"], "from": fields["from_"], "to": fields["to"], "source": source}

    def validate(self, attrs):
        for name in ("from", "to"):
            if name in attrs:
                try:
                    datetime_checked(attrs[name])
                except ValueError as exc:
                    raise serializers.ValidationError({name: [str(exc)]}) from exc
        attrs["interval"] = attrs.get("interval") or ConsensusInterval.HOUR
        return attrs

    @staticmethod
    def window(attrs, *, newest_end) -> tuple:
        """(from, to), the defaults filled in (`newest_end()` is asked only when `to` is absent), checked."""
        interval = attrs["interval"]
        ends = attrs.get("to") or newest_end()
        starts = attrs.get("from") or ends - DEFAULT_SPAN[interval]
        if ends - starts > MAX_SPAN[interval]:
            days = MAX_SPAN[interval].days
            raise serializers.ValidationError({"from": [f"The window may span at most {days} days for {interval}."]})
        if starts >= ends:
            raise serializers.ValidationError(
                {"from": [f"Must be before to ({ends.isoformat()}), which is exclusive."]}
            )
        return starts, ends


class CandleSerializer(serializers.Serializer):
    starts_at = serializers.DateTimeField(help_text="The interval's start (UTC).")
    open = DecimalString()
    high = DecimalString()
    low = DecimalString()
    close = DecimalString()
    market_cap_usd = DecimalString(allow_null=True, help_text="The interval's last; null for the consensus.")
    volume_24h_usd = DecimalString(allow_null=True, help_text="The interval's last; null for the consensus.")


class SeriesSerializer(serializers.Serializer):
    source = serializers.CharField(help_text="A source, or consensus.")
    candles = CandleSerializer(many=True)


class PriceHistorySerializer(serializers.Serializer):
    coin = serializers.CharField()
    interval = serializers.CharField()
    from_ = serializers.DateTimeField()
    to = serializers.DateTimeField()
    series = SeriesSerializer(many=True, help_text="One per source that quoted the coin, then the consensus.")

    def get_fields(self):
        fields = super().get_fields()
        return {
            "coin": fields["coin"],
            "interval": fields["interval"],
            "from": fields["from_"],
            "to": fields["to"],
            "series": fields["series"],
        }
