import json

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from coins.models import ListingToReview, SourceListing
from core.admin import ReadOnlyAdmin, ReadOnlyInline
from etl.models import (
    ACTIVE_RUN_STATUSES,
    Anomaly,
    Checkpoint,
    EtlRun,
    HeaderMapping,
    RawRecord,
    RejectedRecord,
    SourceRun,
    SourceStatus,
    Trigger,
)
from etl.pipeline.drift import drift_changes, drift_summary
from etl.services import (
    ListingConflict,
    QueueUnavailable,
    anomalies_review,
    etl_run_trigger,
    header_mappings_confirm,
    listing_confirm,
    listing_repoint,
    listings_to_review,
)


def seconds(value: float | None) -> str:
    """A duration as a person reads it: 0.21 s, 12.4 s, 3 min 05 s."""
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest:02d} s"


def drift_shown(obj: SourceRun) -> str:
    """The drift in one line, and the run's warnings: "-" for none."""
    parts = [drift_summary(obj.schema_drift)] if drift_changes(obj.schema_drift) else []
    return "; ".join(parts + list(obj.warnings)) or "-"


class SourceRunInline(ReadOnlyInline):
    model = SourceRun
    verbose_name_plural = "Sources"
    fields = [
        "source",
        "status",
        "progress",
        "read",
        "inserted",
        "updated",
        "unchanged",
        "rejected",
        "extract",
        "load",
        "drift",
        "error",
    ]
    show_change_link = False
    # Each row is its source; the caption Django writes above it ("legacy_csv in run 5") is hidden
    # by the run page's template (admin/etl/etlrun/change_form.html).

    @admin.display(description="Progress")
    def progress(self, obj: SourceRun) -> str:
        percent = obj.progress_percent
        if obj.status in (SourceStatus.EXTRACTING, SourceStatus.LOADING):
            done = f"{obj.read:,} read" if obj.status == SourceStatus.EXTRACTING else f"{obj.loaded:,} loaded"
            return f"{done} ({percent:.0f}%)" if percent is not None else done
        return "done" if percent == 100 else "-"

    @admin.display(description="Schema drift")
    def drift(self, obj: SourceRun) -> str:
        return drift_shown(obj)

    @admin.display(description="Extract")
    def extract(self, obj: SourceRun) -> str:
        return seconds(obj.extract_seconds)

    @admin.display(description="Load")
    def load(self, obj: SourceRun) -> str:
        return seconds(obj.load_seconds)


class AnomalyInline(ReadOnlyInline):
    model = Anomaly
    verbose_name_plural = "Anomalies (flags; the run loaded anyway)"
    fields = ["source", "kind", "metric", "value", "baseline", "score", "detail", "reviewed_at"]


@admin.register(EtlRun)
class EtlRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "status", "trigger", "sources_list", "created_at", "duration", "requested_by"]
    list_filter = ["status", "trigger"]
    search_fields = ["id", "error", "requested_by"]
    # Three to a line, so the sources' table below is on the first screen.
    fields = [
        ("status", "trigger", "full"),
        ("sources_list", "replay_of", "requested_by"),
        ("created_at", "started_at", "finished_at"),
        ("duration", "heartbeat_at"),
        "error",
    ]
    readonly_fields = ["sources_list", "duration"]
    inlines = [SourceRunInline, AnomalyInline]

    @admin.display(description="Sources")
    def sources_list(self, obj: EtlRun) -> str:
        return ", ".join(obj.sources)

    @admin.display(description="Duration")
    def duration(self, obj: EtlRun) -> str:
        return seconds(obj.duration_seconds)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        # While the run is active its page reloads itself, so its sources' progress moves.
        active = run is not None and run.status in ACTIVE_RUN_STATUSES
        extra_context = {**(extra_context or {}), "reload_seconds": 5 if active else None}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        run_now = self.admin_site.admin_view(require_POST(self.run_now_view))
        return [path("run-now/", run_now, name="etl_etlrun_run_now"), *super().get_urls()]

    def run_now_view(self, request):
        """The admin's "Run ETL now" button: queue a run, or point at the one already active."""
        try:
            run, created = etl_run_trigger(trigger=Trigger.ADMIN, requested_by=request.user.get_username())
        except QueueUnavailable as exc:
            self.message_user(
                request, f"Could not queue a run: {exc}. Try again once the broker is back.", messages.ERROR
            )
            return HttpResponseRedirect(reverse("admin:etl_etlrun_changelist"))
        if created:
            self.message_user(request, f"Queued run {run.pk}.", messages.SUCCESS)
        else:
            self.message_user(request, f"Run {run.pk} is already {run.status}; not starting another.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:etl_etlrun_change", args=[run.pk]))


@admin.register(SourceRun)
class SourceRunAdmin(ReadOnlyAdmin):
    list_display = [
        "run",
        "source",
        "status",
        "read",
        "inserted",
        "updated",
        "unchanged",
        "rejected",
        "duration",
        "finished_at",
    ]
    list_filter = ["source", "status"]
    search_fields = ["error"]
    readonly_fields = ["drift_shown", "schema_drift_shown", "schema_shown"]

    @admin.display(description="Duration")
    def duration(self, obj: SourceRun) -> str:
        return seconds(obj.duration_seconds)

    @admin.display(description="Schema drift and warnings")
    def drift_shown(self, obj: SourceRun) -> str:
        return drift_shown(obj)

    @admin.display(description="Schema drift (against the last successful run)")
    def schema_drift_shown(self, obj: SourceRun) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.schema_drift, indent=2, ensure_ascii=False))

    @admin.display(description="Schema sent")
    def schema_shown(self, obj: SourceRun) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.schema, indent=2, ensure_ascii=False))


@admin.register(HeaderMapping)
class HeaderMappingAdmin(ReadOnlyAdmin):
    """Unknown CSV headers a run read as a field (with a warning) or proposed (the source failed): confirm one
    and every later run reads the header so, without a warning."""

    list_display = ["source", "header", "field", "confidence", "run", "confirmed", "confirmed_by", "created_at"]
    list_filter = ["source", ("confirmed_at", admin.EmptyFieldListFilter)]
    search_fields = ["header", "field"]
    actions = ["confirm"]

    @admin.display(boolean=True, ordering="confirmed_at")
    def confirmed(self, obj: HeaderMapping) -> bool:
        return obj.confirmed

    @admin.action(description="Confirm: read this header as this field from now on")
    def confirm(self, request, queryset):
        count = header_mappings_confirm(mappings=queryset, user=request.user.get_username())
        self.message_user(request, f"Confirmed {count} mapping(s); the next run reads them so.", messages.SUCCESS)


@admin.register(Anomaly)
class AnomalyAdmin(ReadOnlyAdmin):
    """Flags the runs raised: look at each, then mark it reviewed (it leaves the open counts and the metric)."""

    list_display = ["id", "run", "source", "kind", "metric", "value", "baseline", "score", "detail", "reviewed"]
    list_filter = ["kind", "source", "metric", ("reviewed_at", admin.EmptyFieldListFilter)]
    list_select_related = ["run"]
    search_fields = ["detail"]
    raw_id_fields = ["run", "quote", "coin"]
    actions = ["mark_reviewed"]

    @admin.display(boolean=True, ordering="reviewed_at")
    def reviewed(self, obj: Anomaly) -> bool:
        return obj.reviewed

    @admin.action(description="Mark reviewed")
    def mark_reviewed(self, request, queryset):
        count = anomalies_review(anomalies=queryset, user=request.user.get_username())
        self.message_user(request, f"Marked {count} flag(s) reviewed.", messages.SUCCESS)


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ["source", "run", "updated_at"]


@admin.register(RawRecord)
class RawRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "run", "source", "source_key", "position", "created_at"]
    list_filter = ["source"]
    search_fields = ["source_key"]
    raw_id_fields = ["run"]


@admin.register(RejectedRecord)
class RejectedRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "run", "source", "source_key", "position", "reason", "created_at"]
    list_filter = ["source"]
    search_fields = ["source_key", "reason"]
    raw_id_fields = ["run"]


@admin.register(SourceListing)
class SourceListingAdmin(admin.ModelAdmin):
    """Fix a wrong match by choosing another coin: the listing becomes a manual match, its quotes move with it,
    and later runs keep it. "Confirm" says a match is right; both are reviews no later run or rematch undoes."""

    list_display = [
        "source",
        "source_id",
        "symbol",
        "name",
        "coin",
        "match_rule",
        "confidence",
        "runner_up",
        "reviewed",
    ]
    list_filter = ["source", "match_rule", "confidence", ("reviewed_at", admin.EmptyFieldListFilter)]
    list_select_related = ["coin", "runner_up"]
    search_fields = ["source_id", "symbol", "name", "coin__slug"]
    autocomplete_fields = ["coin"]
    actions = ["confirm", "split_off"]
    fields = [
        "source",
        "source_id",
        "symbol",
        "name",
        "coin",
        "match_rule",
        "confidence",
        "score",
        "runner_up",
        "runner_up_score",
        "evidence_shown",
        "reviewed_at",
        "reviewed_by",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [f for f in fields if f != "coin"]

    def has_add_permission(self, request):
        return False

    @admin.display(boolean=True, ordering="reviewed_at")
    def reviewed(self, obj):
        return obj.reviewed

    @admin.display(description="evidence")
    def evidence_shown(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.evidence, indent=2, ensure_ascii=False))

    def save_model(self, request, obj, form, change):
        try:
            listing_repoint(listing=obj, coin=form.cleaned_data["coin"], user=request.user.get_username())
        except ListingConflict as exc:
            self.message_user(request, f"Not re-pointed: {exc}.", messages.ERROR)

    @admin.action(description="Confirm the match (later runs keep it)")
    def confirm(self, request, queryset):
        for listing in queryset:
            listing_confirm(listing=listing, user=request.user.get_username())
        self.message_user(request, f"Confirmed {queryset.count()} listing(s).", messages.SUCCESS)

    @admin.action(description="Move to a new coin of its own, with its quotes")
    def split_off(self, request, queryset):
        for listing in queryset.select_related("coin"):
            listing_repoint(listing=listing, coin=None, user=request.user.get_username())
        self.message_user(request, f"Moved {queryset.count()} listing(s) to coins of their own.", messages.SUCCESS)


@admin.register(ListingToReview)
class ListingToReviewAdmin(SourceListingAdmin):
    """The review queue: matches below IDENTITY_REVIEW_BELOW that nobody confirmed or re-pointed, newest first."""

    list_display = [
        "created_at",
        "source",
        "source_id",
        "symbol",
        "name",
        "coin",
        "match_rule",
        "confidence",
        "runner_up",
    ]
    list_filter = ["source", "match_rule"]

    def get_queryset(self, request):
        return listings_to_review(listings=super().get_queryset(request))

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "title": f"Listings to review (confidence below {settings.IDENTITY_REVIEW_BELOW})",
        }
        return super().changelist_view(request, extra_context)
