from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Ingested and pipeline data: browsable, searchable, never edited by hand."""

    show_full_result_count = False  # no COUNT(*) over millions of rows on every page

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
