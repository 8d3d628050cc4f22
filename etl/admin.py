from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from coins.models import SourceListing
from core.admin import ReadOnlyAdmin
from etl.models import Checkpoint, EtlRun, RawRecord, RejectedRecord, SourceRun, Trigger
from etl.services import QueueUnavailable, etl_run_trigger, listing_repoint


class SourceRunInline(admin.TabularInline):
    model = SourceRun
    fields = [
        "source",
        "status",
        "read",
        "inserted",
        "updated",
        "unchanged",
        "rejected",
        "extract_seconds",
        "load_seconds",
        "error",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(EtlRun)
class EtlRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "status", "trigger", "created_at", "started_at", "finished_at", "requested_by"]
    list_filter = ["status", "trigger"]
    search_fields = ["id", "error", "requested_by"]
    inlines = [SourceRunInline]

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
    list_display = ["run", "source", "status", "read", "inserted", "updated", "unchanged", "rejected", "finished_at"]
    list_filter = ["source", "status"]
    search_fields = ["error"]


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
    """Fix a wrong match by choosing another coin: the listing becomes a manual match, kept by later runs."""

    list_display = ["source", "source_id", "symbol", "name", "coin", "match_rule", "confidence"]
    list_filter = ["source", "match_rule", "confidence"]
    search_fields = ["source_id", "symbol", "name", "coin__slug"]
    autocomplete_fields = ["coin"]
    fields = ["source", "source_id", "symbol", "name", "coin", "match_rule", "confidence", "created_at", "updated_at"]
    readonly_fields = ["source", "source_id", "symbol", "name", "match_rule", "confidence", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        listing_repoint(listing=obj, coin=form.cleaned_data["coin"])
