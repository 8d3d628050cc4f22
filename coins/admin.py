from decimal import Decimal

from django.contrib import admin
from django.db import transaction
from django.db.models import F
from django.utils.html import format_html

from coins.caching import data_version_bump
from coins.keys import name_key, symbol_key
from coins.models import Coin, Quote, SourceListing
from coins.selectors import coins_with_latest_quote
from core.admin import ReadOnlyAdmin

_SCALES = ((Decimal(10) ** 12, "T"), (Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "k"))


def usd_price(value: Decimal | None) -> str:
    """A price as a person reads it: cents from a dollar up, four significant digits below ($0.00002466)."""
    if value is None:
        return "-"
    if value >= 1 or value == 0:
        return f"${value:,.2f}"
    return f"${value:.{max(4, 3 - value.adjusted())}f}"


def usd_amount(value: Decimal | None) -> str:
    """A market cap or volume, short: $1.93T, $412.5B, $8.20M."""
    if value is None:
        return "-"
    for scale, suffix in _SCALES:
        if abs(value) >= scale:
            return f"${value / scale:,.2f}{suffix}"
    return f"${value:,.0f}"


def percent_change(value: Decimal | None) -> str:
    if value is None:
        return "-"
    color = "var(--message-success-bg, #dfd)" if value >= 0 else "var(--message-error-bg, #ffefef)"
    return format_html(
        '<span style="background:{};padding:1px 6px;border-radius:4px;white-space:nowrap">{}</span>',
        color,
        f"{value:+.2f}%",
    )


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
    """The market at a glance: each coin's newest quote from any source, by market-cap rank."""

    list_display = ["rank", "coin", "price", "market_cap", "change_24h", "quoted_by", "quoted_at"]
    list_display_links = ["coin"]
    actions = None  # a coin is never deleted by hand: its quotes protect it
    list_filter = ["provisional"]
    search_fields = ["slug", "symbol", "name"]
    readonly_fields = ["symbol_key", "name_key", "created_at", "updated_at"]
    inlines = [ListingInline]
    ordering = [F("rank").asc(nulls_last=True), "slug"]
    list_per_page = 50

    def get_queryset(self, request):
        return coins_with_latest_quote()

    @admin.display(description="Coin", ordering="name")
    def coin(self, obj: Coin) -> str:
        return format_html(
            '<span style="white-space:nowrap">{} <span style="color:var(--body-quiet-color)">{}</span></span>',
            obj.name,
            obj.symbol,
        )

    @admin.display(description="Price (USD)", ordering="latest_price_usd")
    def price(self, obj: Coin) -> str:
        return usd_price(obj.latest_price_usd)

    @admin.display(description="Market cap", ordering="latest_market_cap_usd")
    def market_cap(self, obj: Coin) -> str:
        return usd_amount(obj.latest_market_cap_usd)

    @admin.display(description="24h", ordering="latest_percent_change_24h")
    def change_24h(self, obj: Coin) -> str:
        return percent_change(obj.latest_percent_change_24h)

    @admin.display(description="Source", ordering="latest_source")
    def quoted_by(self, obj: Coin) -> str:
        return obj.latest_source or "-"

    @admin.display(description="As of (UTC)", ordering="latest_as_of")
    def quoted_at(self, obj: Coin):
        if obj.latest_as_of is None:
            return "-"
        return format_html('<span style="white-space:nowrap">{}</span>', obj.latest_as_of.strftime("%Y-%m-%d %H:%M"))

    def save_model(self, request, obj, form, change):
        obj.symbol_key, obj.name_key = symbol_key(obj.symbol), name_key(obj.name)  # what matching and /data use
        super().save_model(request, obj, form, change)
        transaction.on_commit(data_version_bump)  # cached API pages show the coin's name and slug


@admin.register(Quote)
class QuoteAdmin(ReadOnlyAdmin):
    list_display = ["coin", "source", "as_of", "price", "market_cap", "change_24h", "rank", "run"]
    list_filter = ["source"]
    search_fields = ["coin__symbol", "coin__slug"]
    list_select_related = ["coin"]
    raw_id_fields = ["coin", "run"]

    @admin.display(description="Price (USD)", ordering="price_usd")
    def price(self, obj: Quote) -> str:
        return usd_price(obj.price_usd)

    @admin.display(description="Market cap", ordering="market_cap_usd")
    def market_cap(self, obj: Quote) -> str:
        return usd_amount(obj.market_cap_usd)

    @admin.display(description="24h", ordering="percent_change_24h")
    def change_24h(self, obj: Quote) -> str:
        return percent_change(obj.percent_change_24h)
