from django.contrib import admin

from etl.models import Checkpoint, EtlRun, RawRecord, RejectedRecord, SourceRun
from kasparro.readonly_admin import ReadOnlyAdmin


class SourceRunInline(admin.TabularInline):
    model = SourceRun
    fields = ["source", "status", "read", "inserted", "updated", "unchanged", "rejected",
              "extract_seconds", "load_seconds", "error"]
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
