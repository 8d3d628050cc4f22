from django.db import models
from django.db.models.functions import Now


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Partial (a source failed)"
    FAILED = "failed", "Failed"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class Trigger(models.TextChoices):
    CLI = "cli", "Command line"
    API = "api", "API"
    SCHEDULE = "schedule", "Schedule"
    ADMIN = "admin", "Admin"


class EtlRun(models.Model):
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    sources = models.JSONField(help_text="Source names this run covers, in order.")
    full = models.BooleanField(default=False, help_text="Ignore checkpoints and re-read every source whole.")
    replay_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    requested_by = models.CharField(max_length=150, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(db_default=Now())
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Set while a loader task is queued or loading for this run: one loader at a time, since identity
    # resolution must not run twice at once (etl.services.runs.run_loader_claim and run_loader_release).
    loader_claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # Single flight, enforced by the database: at most one queued or running run.
            models.UniqueConstraint(
                models.Value(True),
                condition=models.Q(status__in=ACTIVE_RUN_STATUSES),
                name="etl_run_single_flight",
            ),
        ]
        indexes = [models.Index(fields=["status", "-id"], name="etlrun_status_idx")]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return round((self.finished_at - self.started_at).total_seconds(), 3)
        return None


class SourceStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    EXTRACTING = "extracting", "Extracting"
    EXTRACTED = "extracted", "Extracted"
    LOADING = "loading", "Loading"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    NOT_CONFIGURED = "not_configured", "Not configured"


class SourceRun(models.Model):
    """One source's part of a run: what it read, what it wrote, and why it failed."""

    run = models.ForeignKey(EtlRun, on_delete=models.CASCADE, related_name="source_runs")
    source = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=SourceStatus.choices, default=SourceStatus.PENDING)
    error = models.TextField(blank=True)
    read = models.PositiveIntegerField(default=0)
    inserted = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    http_requests = models.PositiveIntegerField(default=0)
    http_retries = models.PositiveIntegerField(default=0)
    http_throttled = models.PositiveIntegerField(default=0, help_text="Answers of 429 Too Many Requests.")
    extract_seconds = models.FloatField(null=True, blank=True)
    load_seconds = models.FloatField(null=True, blank=True)
    # Last RawRecord whose outcome is committed: a resumed load continues after it.
    load_cursor = models.BigIntegerField(null=True, blank=True)
    checkpoint_before = models.JSONField(null=True, blank=True)
    # What the checkpoint becomes once this source's rows are committed.
    checkpoint_after = models.JSONField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Progress while it runs, written with each committed batch (etl.services.progress): `read` counts
    # the records staged so far; these say how far through a source of known size (a file) it is.
    progress_bytes = models.BigIntegerField(null=True, blank=True)
    progress_bytes_total = models.BigIntegerField(null=True, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True, help_text="When the last batch was committed.")
    # What the source sent (etl.pipeline.drift.schema_profile): each field's JSON type, null rate and
    # numeric range; a CSV's fields are its header as read.
    schema = models.JSONField(null=True, blank=True)
    # How `schema` differs from the last successful run's: added, removed, retyped, renamed with confidence.
    schema_drift = models.JSONField(null=True, blank=True)
    # Unknown headers read as unified fields in this run (legacy CSV), applied or only candidates.
    field_renames = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True, help_text="What the run did that an operator should know.")

    class Meta:
        ordering = ["run_id", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "source"], name="sourcerun_run_source_unique")]

    def __str__(self) -> str:
        return f"{self.source} in run {self.run_id}"

    @property
    def loaded(self) -> int:
        """Records the load stage has committed so far, whatever became of each."""
        return self.inserted + self.updated + self.unchanged + self.rejected

    @property
    def progress_percent(self) -> float | None:
        """How far its current stage is, where that is known: the load always, the extract of a file."""
        if self.status in (SourceStatus.SUCCEEDED, SourceStatus.EXTRACTED):
            return 100.0
        if self.status == SourceStatus.LOADING and self.read:
            return round(min(100.0, 100 * self.loaded / self.read), 1)
        if self.status == SourceStatus.EXTRACTING and self.progress_bytes_total:
            return round(min(100.0, 100 * (self.progress_bytes or 0) / self.progress_bytes_total), 1)
        return None

    @property
    def duration_seconds(self) -> float | None:
        """Time spent extracting and loading (a queued source waits for the others; that is not counted)."""
        if self.extract_seconds is None and self.load_seconds is None:
            return None
        return round((self.extract_seconds or 0) + (self.load_seconds or 0), 3)


class Checkpoint(models.Model):
    """How far each source has been loaded and committed."""

    source = models.CharField(max_length=32, unique=True)
    state = models.JSONField(default=dict)
    run = models.ForeignKey(EtlRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source"]

    def __str__(self) -> str:
        return self.source


class RawRecord(models.Model):
    """One item exactly as a source sent it, kept so any run can be re-normalized."""

    run = models.ForeignKey(EtlRun, on_delete=models.CASCADE, related_name="raw_records")
    source = models.CharField(max_length=32)
    source_key = models.CharField(max_length=200)
    # Line in the CSV, or position in the API response.
    position = models.PositiveIntegerField()
    payload = models.TextField(help_text="The item as JSON text, numbers with the source's digits.")
    content_hash = models.CharField(max_length=32)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["run", "source", "id"], name="raw_run_source_idx")]

    def __str__(self) -> str:
        return f"{self.source}:{self.source_key} (run {self.run_id})"


class RejectedRecord(models.Model):
    """A record that could not be validated, kept with the reason: quarantined, not lost."""

    run = models.ForeignKey(EtlRun, on_delete=models.CASCADE, related_name="rejected_records")
    source = models.CharField(max_length=32)
    source_key = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField(null=True, blank=True)
    reason = models.TextField()
    payload = models.TextField()
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["run", "source"], name="rejected_run_source_idx")]

    def __str__(self) -> str:
        return f"{self.source}:{self.source_key or self.position} (run {self.run_id})"


class RateLimitSlot(models.Model):
    """The next moment (Unix seconds) a source may be called, shared by every process (embedded default)."""

    source = models.CharField(max_length=32, primary_key=True)
    next_at = models.FloatField(default=0)

    def __str__(self) -> str:
        return self.source


class SourceItemHash(models.Model):
    """The payload last loaded for each item of a snapshot source (an API that sends every coin each time).

    A byte-identical payload makes an identical quote, so the next run counts it
    unchanged without validating, resolving or upserting it again.
    """

    source = models.CharField(max_length=32)
    source_key = models.CharField(max_length=200)
    payload_hash = models.CharField(max_length=32)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "source_key"], name="itemhash_source_key_unique")]

    def __str__(self) -> str:
        return f"{self.source}:{self.source_key}"


class HeaderMapping(models.Model):
    """A file header the alias table does not know, read as a unified field: proposed by a run, or confirmed.

    A confirmed mapping is applied without a warning by every later run; a proposed one (a rename found
    below DRIFT_AUTO_APPLY_CONFIDENCE) waits for an operator to confirm it in the admin.
    """

    source = models.CharField(max_length=32)
    header = models.CharField(max_length=200)
    field = models.CharField(max_length=32, help_text="The unified field it carries.")
    confidence = models.FloatField(help_text="The rename's confidence when a run found it.")
    run = models.ForeignKey(EtlRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["source", "header"]
        constraints = [models.UniqueConstraint(fields=["source", "header", "field"], name="headermap_unique")]

    def __str__(self) -> str:
        return f"{self.source}: {self.header!r} as {self.field}"

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


class AnomalyKind(models.TextChoices):
    RUN = "run", "Run figure far from the source's recent runs"
    PRICE_JUMP = "price_jump", "Price move far outside the series' usual moves"
    PRICE_DISAGREEMENT = "price_disagreement", "Price far from the other sources' at the same moment"


class Anomaly(models.Model):
    """A flag raised by a run: stored when the run loads, never recomputed, never blocking the load."""

    run = models.ForeignKey(EtlRun, on_delete=models.CASCADE, related_name="anomalies")
    source = models.CharField(max_length=32)
    kind = models.CharField(max_length=24, choices=AnomalyKind.choices)
    metric = models.CharField(max_length=32, help_text="read, rejected_fraction, duration_seconds, price_usd...")
    value = models.FloatField()
    baseline = models.FloatField(help_text="The median it is compared with.")
    score = models.FloatField(help_text="Distance from the baseline in robust deviations (MAD).")
    detail = models.TextField(blank=True)
    quote = models.ForeignKey("coins.Quote", on_delete=models.CASCADE, null=True, blank=True, related_name="anomalies")
    coin = models.ForeignKey("coins.Coin", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "anomalies"
        indexes = [
            models.Index(fields=["run", "source"], name="anomaly_run_source_idx"),
            models.Index(fields=["reviewed_at", "kind"], name="anomaly_review_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.metric} of {self.source} (run {self.run_id})"

    @property
    def reviewed(self) -> bool:
        return self.reviewed_at is not None


class ListingMove(models.Model):
    """A listing pointed at another coin (a review or a rematch): what /runs/compare lists between two runs."""

    source = models.CharField(max_length=32)
    source_id = models.CharField(max_length=200)
    from_coin = models.CharField(max_length=120, help_text="The coin's slug before.")
    to_coin = models.CharField(max_length=120, help_text="The coin's slug after.")
    moved_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["moved_at"], name="listingmove_at_idx")]

    def __str__(self) -> str:
        return f"{self.source}:{self.source_id} {self.from_coin} -> {self.to_coin}"
