from django.db import models

from coins.fields import NumericField


class Coin(models.Model):
    """One real asset, however many sources list it."""

    slug = models.SlugField(max_length=120, unique=True)
    symbol = models.CharField(max_length=40, db_index=True)
    name = models.CharField(max_length=200)
    # The name folded for matching (case, spacing, punctuation and accents removed).
    name_key = models.CharField(max_length=200, db_index=True)
    # Best (lowest) market-cap rank any source gave it; picks the winner of a symbol-only match.
    rank = models.PositiveIntegerField(null=True, blank=True)
    # Made from a symbol alone (no source named it yet): the first named source with
    # that symbol adopts it instead of creating a second coin.
    provisional = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["rank", "slug"]
        indexes = [models.Index(fields=["symbol", "name_key"], name="coin_symbol_name_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.symbol})"


class MatchRule(models.TextChoices):
    SYMBOL_NAME = "symbol_name", "Symbol and normalized name"
    SYMBOL_ONLY = "symbol_only", "Symbol only (best-ranked coin)"
    NEW_COIN = "new_coin", "No match: new coin"
    MANUAL = "manual", "Set by an operator"


class SourceListing(models.Model):
    """How one source names one coin, and how sure we are that it is that coin."""

    source = models.CharField(max_length=32, help_text="A source of the pipeline's registry (coins.sources).")
    source_id = models.CharField(max_length=200)
    coin = models.ForeignKey(Coin, on_delete=models.PROTECT, related_name="listings")
    symbol = models.CharField(max_length=40)
    name = models.CharField(max_length=200, blank=True)
    match_rule = models.CharField(max_length=16, choices=MatchRule.choices)
    confidence = models.DecimalField(max_digits=3, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source", "source_id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "source_id"], name="listing_source_id_unique"),
            models.CheckConstraint(
                condition=models.Q(confidence__gte=0, confidence__lte=1), name="listing_confidence_range"
            ),
        ]
        indexes = [models.Index(fields=["match_rule", "confidence"], name="listing_rule_conf_idx")]

    def __str__(self) -> str:
        return f"{self.source}:{self.source_id}"


class Quote(models.Model):
    """A coin's market figures from one source at one moment (the upsert key)."""

    coin = models.ForeignKey(Coin, on_delete=models.PROTECT, related_name="quotes")
    source = models.CharField(max_length=32, help_text="A source of the pipeline's registry (coins.sources).")
    as_of = models.DateTimeField(help_text="When the source says these values held (UTC).")
    price_usd = NumericField()
    market_cap_usd = NumericField(null=True, blank=True)
    volume_24h_usd = NumericField(null=True, blank=True)
    percent_change_24h = NumericField(null=True, blank=True)
    rank = models.PositiveIntegerField(null=True, blank=True)
    circulating_supply = NumericField(null=True, blank=True)
    total_supply = NumericField(null=True, blank=True)
    max_supply = NumericField(null=True, blank=True)
    run = models.ForeignKey("etl.EtlRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    content_hash = models.CharField(max_length=32)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-as_of", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["coin", "source", "as_of"], name="quote_coin_source_as_of_unique"),
            models.CheckConstraint(condition=models.Q(price_usd__gte=0), name="quote_price_non_negative"),
        ]
        indexes = [
            # Keyset pagination of /data and its filters: every walk is an index range scan.
            models.Index(fields=["-as_of", "-id"], name="quote_as_of_id_idx"),
            models.Index(fields=["coin", "-as_of", "-id"], name="quote_coin_as_of_idx"),
            models.Index(fields=["source", "-as_of", "-id"], name="quote_source_as_of_idx"),
            models.Index(fields=["-price_usd", "-id"], name="quote_price_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.coin_id}/{self.source}@{self.as_of:%Y-%m-%dT%H:%M:%SZ}"
