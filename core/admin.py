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


class ReadOnlyInline(admin.TabularInline):
    """Rows shown beside their parent for reading (`fields`), never added, edited or deleted there."""

    extra = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False
