from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib import admin
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils.html import format_html

from coins.caching import data_version_bump
from coins.charts import price_chart_svg
from coins.formatting import usd_amount, usd_price
from coins.history import CONSENSUS_SERIES, coin_history_end, coin_price_history
from coins.keys import name_key, symbol_key
from coins.models import Coin, Disagreement, Quote, SourceListing
from coins.selectors import coin_disagreement_starts, coins_with_latest_quote, disagreements_list
from core.admin import ReadOnlyAdmin, ReadOnlyInline


def percent_change(value: Decimal | None) -> str:
    if value is None:
        return "-"
    color = "var(--message-success-bg, #dfd)" if value >= 0 else "var(--message-error-bg, #ffefef)"
    return format_html(
        '<span style="background:{};padding:1px 6px;border-radius:4px;white-space:nowrap">{}</span>',
        color,
        f"{value:+.2f}%",
    )


class ListingInline(ReadOnlyInline):
    model = SourceListing
    fk_name = "coin"
    fields = ["source", "source_id", "symbol", "name", "match_rule", "confidence", "runner_up", "reviewed_at"]


CHART_DAYS = (7, 30)


def coin_chart_context(*, coin: Coin, days: int) -> dict:
    """The coin page's chart: its hourly closes per source and the consensus over the last `days` days of its quotes."""
    ends = coin_history_end(coin_id=coin.pk, interval="1h")
    starts = ends - timedelta(days=days)
    history = coin_price_history(coin_id=coin.pk, interval="1h", starts=starts, ends=ends)
    chart = price_chart_svg(
        series={name: [(c.starts_at, c.close) for c in candles] for name, candles in history.items()},
        consensus=CONSENSUS_SERIES,
        disagreements=coin_disagreement_starts(coin=coin, starts=starts, ends=ends),
        interval=timedelta(days=1) if settings.CONSENSUS_INTERVAL == "1d" else timedelta(hours=1),
        starts=starts,
        ends=ends,
    )
    return {"price_chart": chart, "chart_days": days, "chart_day_choices": CHART_DAYS}


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

    change_form_template = "admin/coins/coin/change_form.html"

    def get_queryset(self, request):
        return coins_with_latest_quote()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        coin = self.get_object(request, object_id)
        if coin is not None:
            days = int(request.GET.get("days", "7")) if request.GET.get("days") in ("7", "30") else 7
            extra_context = {**(extra_context or {}), **coin_chart_context(coin=coin, days=days)}
        return super().change_view(request, object_id, form_url, extra_context)

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


@admin.register(Disagreement)
class DisagreementAdmin(ReadOnlyAdmin):
    """The intervals in which a source was further than CONSENSUS_OUTLIER_PCT from the median, newest first."""

    list_display = ["starts_at", "coin_link", "price", "sources", "spread_pct", "outlier_sources"]
    search_fields = ["coin__slug", "coin__symbol", "coin__name"]
    list_per_page = 50

    def get_queryset(self, request):
        return disagreements_list()

    @admin.display(description="Coin")
    def coin_link(self, obj: Disagreement) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:coins_coin_change", args=[obj.coin_id]), obj.coin)

    @admin.display(description="Consensus (USD)", ordering="price_usd")
    def price(self, obj: Disagreement) -> str:
        return usd_price(obj.price_usd)

    @admin.display(description="Spread", ordering="spread")
    def spread_pct(self, obj: Disagreement) -> str:
        return "-" if obj.spread is None else f"{obj.spread * 100:.2f}%"

    @admin.display(description="Outliers")
    def outlier_sources(self, obj: Disagreement) -> str:
        return ", ".join(
            f"{q.source} ({q.deviation * 100:+.2f}%)" for q in obj.quotes.all() if q.outlier and q.deviation is not None
        )
