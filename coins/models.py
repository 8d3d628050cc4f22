from django.db import models

from coins.fields import NumericField
from coins.keys import KEY_MAX_LENGTH, NAME_MAX_LENGTH, SYMBOL_MAX_LENGTH


class Coin(models.Model):
    """One real asset, however many sources list it."""

    slug = models.SlugField(max_length=120, unique=True)
    # As the source spells it (`0xBTC`, `$$$`); empty for a coin known only by name (a CSV of names).
    symbol = models.CharField(max_length=SYMBOL_MAX_LENGTH, blank=True)
    # The symbol folded for matching and filtering (coins.keys.symbol_key): `/data?symbol=0xbtc` finds `0xBTC`.
    symbol_key = models.CharField(max_length=KEY_MAX_LENGTH, db_index=True)
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    # The name folded for matching (case, spacing, punctuation and accents removed).
    name_key = models.CharField(max_length=KEY_MAX_LENGTH, db_index=True)
    # Best (lowest) market-cap rank any source gave it; picks the winner of a symbol-only match.
    rank = models.PositiveIntegerField(null=True, blank=True)
    # Made from a symbol alone or a name alone (no source gave both yet): the first source that
    # gives both and agrees with it adopts it instead of creating a second coin.
    provisional = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["rank", "slug"]
        indexes = [
            # /coins in its order (unranked last, PostgreSQL's default for ascending): a page is a range of this
            # index, not a sort of every coin.
            models.Index(fields=["rank", "slug"], name="coin_rank_slug_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.symbol})"


class MatchRule(models.TextChoices):
    EVIDENCE = "evidence", "Weighed evidence (slug, symbol, name, rank, prices)"
    SYMBOL_ONLY = "symbol_only", "Symbol only (best-ranked coin)"
    NAME_ONLY = "name_only", "Name only (best-ranked coin)"
    NEW_COIN = "new_coin", "No match: new coin"
    MANUAL = "manual", "Set by an operator"


class SourceListing(models.Model):
    """How one source names one coin, how sure we are that it is that coin, and why.

    A coin holds at most one listing per source: a source's distinct ids are distinct
    assets by that source's own account, and a coin's quotes of a source are its listing's.
    """

    source = models.CharField(max_length=32, help_text="A source of the pipeline's registry (coins.sources).")
    source_id = models.CharField(max_length=200)
    coin = models.ForeignKey(Coin, on_delete=models.PROTECT, related_name="listings")
    symbol = models.CharField(max_length=SYMBOL_MAX_LENGTH, blank=True)
    name = models.CharField(max_length=NAME_MAX_LENGTH, blank=True)
    # Folded as on Coin, so a coin is found by any source's spelling of it; slug_key is the id's name part.
    symbol_key = models.CharField(max_length=KEY_MAX_LENGTH, db_index=True)
    name_key = models.CharField(max_length=KEY_MAX_LENGTH, db_index=True)
    slug_key = models.CharField(max_length=KEY_MAX_LENGTH, db_index=True, blank=True)
    match_rule = models.CharField(max_length=16, choices=MatchRule.choices)
    # How sure we are now: the matcher's score, or 1.00 once an operator confirmed or re-pointed it.
    confidence = models.DecimalField(max_digits=3, decimal_places=2)
    # The matcher's own score for the coin it chose, kept after a review.
    score = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    # What decided it: the rule, each piece of evidence for the chosen coin and the runner-up.
    evidence = models.JSONField(default=dict, blank=True)
    runner_up = models.ForeignKey(
        Coin, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", help_text="The next-best coin."
    )
    runner_up_score = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    # Set when an operator confirmed or re-pointed it: no later run or rematch changes it.
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source", "source_id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "source_id"], name="listing_source_id_unique"),
            models.UniqueConstraint(fields=["coin", "source"], name="listing_coin_source_unique"),
            models.CheckConstraint(
                condition=models.Q(confidence__gte=0, confidence__lte=1), name="listing_confidence_range"
            ),
        ]
        indexes = [
            models.Index(fields=["match_rule", "confidence"], name="listing_rule_conf_idx"),
            # The admin's review queue: unreviewed listings below a confidence, newest first.
            models.Index(fields=["reviewed_at", "confidence", "-created_at"], name="listing_review_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.source_id}"

    @property
    def reviewed(self) -> bool:
        return self.reviewed_at is not None


class ListingToReview(SourceListing):
    """The admin's review queue over SourceListing: matches below a confidence that nobody has looked at."""

    class Meta:
        proxy = True
        verbose_name = "listing to review"
        verbose_name_plural = "listings to review"


class Quote(models.Model):
    """A coin's market figures from one source at one moment (the upsert key)."""

    # No index of its own: quote_coin_as_of_idx leads with coin_id. A second, narrower one tempted the planner
    # into reading every quote of a coin and filtering the moments (a year of hourly quotes for a week's chart).
    coin = models.ForeignKey(Coin, on_delete=models.PROTECT, related_name="quotes", db_index=False)
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


class ConsensusInterval(models.TextChoices):
    HOUR = "1h", "Hourly"
    DAY = "1d", "Daily"


# The consensus and candle tables are derived: coins.consensus and coins.candles write them set-based from the
# quotes, whose own keys are checked, so they carry no foreign-key constraint in the database (a check queued
# for each written row was a fifth of a first run's consensus step). Django still cascades a deleted coin's
# rows to them, and a key that leads a unique constraint needs no index of its own.
DERIVED = {"db_constraint": False, "db_index": False}


class Consensus(models.Model):
    """One price for a coin in one interval: the median of each source's last quote in it.

    Written by coins.consensus after each run, for the intervals its quotes fall in that two or more sources
    quoted (one source's consensus is its quote, read as such); a source further than CONSENSUS_OUTLIER_PCT
    from the median is flagged on its ConsensusQuote.
    """

    coin = models.ForeignKey(Coin, on_delete=models.CASCADE, related_name="consensus", **DERIVED)
    interval = models.CharField(max_length=2, choices=ConsensusInterval.choices)
    starts_at = models.DateTimeField(help_text="The interval's start (UTC); it ends one interval later.")
    price_usd = NumericField(help_text="The median of the sources' last prices in the interval.")
    sources = models.PositiveSmallIntegerField(help_text="How many sources quoted the coin in the interval.")
    # (max - min) / median of those prices; null when the median is 0.
    spread = NumericField(null=True, blank=True)
    outliers = models.PositiveSmallIntegerField(default=0, help_text="Sources beyond CONSENSUS_OUTLIER_PCT.")
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["-starts_at", "-id"]
        verbose_name_plural = "consensus"
        constraints = [
            models.UniqueConstraint(fields=["coin", "interval", "starts_at"], name="consensus_coin_interval_unique"),
        ]
        indexes = [
            # /disagreements and the admin's list: the newest intervals with an outlier, nothing else read.
            models.Index(
                fields=["interval", "-starts_at", "-id"],
                name="consensus_disagreement_idx",
                condition=models.Q(outliers__gt=0),
            ),
            # A refresh finds the rows it has just written by their moment.
            models.Index(fields=["computed_at"], name="consensus_computed_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.coin_id}/{self.interval}@{self.starts_at:%Y-%m-%dT%H:%M:%SZ}"


class Disagreement(Consensus):
    """The admin's list over Consensus: the intervals in which a source was an outlier."""

    class Meta:
        proxy = True


class ConsensusQuote(models.Model):
    """One source's say in a consensus: its last quote in the interval and its distance from the median."""

    consensus = models.ForeignKey(Consensus, on_delete=models.CASCADE, related_name="quotes", **DERIVED)
    source = models.CharField(max_length=32)
    as_of = models.DateTimeField()
    price_usd = NumericField()
    # (price - median) / median; null when the median is 0.
    deviation = NumericField(null=True, blank=True)
    outlier = models.BooleanField(default=False)

    class Meta:
        ordering = ["source"]
        constraints = [
            models.UniqueConstraint(fields=["consensus", "source"], name="consensus_quote_source_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.consensus_id}/{self.source}"


class Candle(models.Model):
    """Open, high, low and close of one series of a coin in one day: the rollup /coins/{slug}/history reads.

    A series is a source, or "consensus". Written by coins.candles after each run for the days its quotes
    fall in, so a year of a series is 365 rows to read, not the 8,760 hours of quotes under them. Hours are
    not stored (coins.history groups them when read); `interval` says which kind of candle a row is.
    """

    coin = models.ForeignKey(Coin, on_delete=models.CASCADE, related_name="candles", **DERIVED)
    interval = models.CharField(max_length=2, choices=ConsensusInterval.choices)
    starts_at = models.DateTimeField(help_text="The interval's start (UTC); it ends one interval later.")
    series = models.CharField(max_length=32, help_text='A source, or "consensus".')
    open = NumericField()
    high = NumericField()
    low = NumericField()
    close = NumericField()
    # The last quote's in the interval: null when it had none (the consensus has neither).
    market_cap_usd = NumericField(null=True, blank=True)
    volume_24h_usd = NumericField(null=True, blank=True)
    # On PostgreSQL, the candle as the API writes it (coins.history.candle_json_sql): a chart is then one
    # string_agg of these. Empty on SQLite, whose doubles are formatted in Python.
    body = models.TextField(blank=True)

    class Meta:
        ordering = ["coin", "interval", "starts_at", "series"]
        constraints = [
            # Leads with the coin and the moment: a window of a chart is one range of it.
            models.UniqueConstraint(
                fields=["coin", "interval", "starts_at", "series"], name="candle_coin_interval_starts_series_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.coin_id}/{self.series}/{self.interval}@{self.starts_at:%Y-%m-%dT%H:%M:%SZ}"
