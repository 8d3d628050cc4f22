from django.contrib import admin
from django.db import transaction

from coins.caching import data_version_bump
from coins.keys import name_key, symbol_key
from coins.models import Coin, Quote, SourceListing
from core.admin import ReadOnlyAdmin


class ListingInline(admin.TabularInline):
    model = SourceListing
    fk_name = "coin"
    fields = ["source", "source_id", "symbol", "name", "match_rule", "confidence", "runner_up", "reviewed_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Coin)
class CoinAdmin(admin.ModelAdmin):
    list_display = ["slug", "symbol", "name", "rank", "provisional", "updated_at"]
    list_filter = ["provisional"]
    search_fields = ["slug", "symbol", "name"]
    readonly_fields = ["symbol_key", "name_key", "created_at", "updated_at"]
    inlines = [ListingInline]

    def save_model(self, request, obj, form, change):
        obj.symbol_key, obj.name_key = symbol_key(obj.symbol), name_key(obj.name)  # what matching and /data use
        super().save_model(request, obj, form, change)
        transaction.on_commit(data_version_bump)  # cached API pages show the coin's name and slug


@admin.register(Quote)
class QuoteAdmin(ReadOnlyAdmin):
    list_display = ["coin", "source", "as_of", "price_usd", "market_cap_usd", "rank", "run"]
    list_filter = ["source"]
    search_fields = ["coin__symbol", "coin__slug"]
    list_select_related = ["coin"]
    raw_id_fields = ["coin", "run"]
