import django_filters
from django import forms
from django.utils.functional import lazy

from coins.keys import symbol_key
from coins.models import Quote
from coins.sources import source_choices, source_names
from core.filtering import FormCachedFilterSet
from core.values import datetime_checked, decimal_checked


class _Bounded:
    """A form field whose value must also fit the database (see core.values): else a 400, not a 500."""

    check = staticmethod(lambda value: value)

    def to_python(self, value):
        value = super().to_python(value)
        try:
            return value if value is None else self.check(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


class _PriceField(_Bounded, forms.DecimalField):
    check = staticmethod(decimal_checked)


class _MomentField(_Bounded, django_filters.fields.IsoDateTimeField):
    check = staticmethod(datetime_checked)


class PriceFilter(django_filters.NumberFilter):
    field_class = _PriceField


class MomentFilter(django_filters.IsoDateTimeFilter):
    field_class = _MomentField


def _unknown_source() -> str:
    # The wording of every choice parameter (core.params.ChoiceParam); %(value)r is the value sent.
    return f"Unknown source %(value)r; use one of: {', '.join(source_names())}."


class QuoteFilterForm(forms.Form):
    """The ranges must be ranges: a lower bound above the upper one is a mistake, not an empty page."""

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("min_price"), cleaned.get("max_price")
        if low is not None and high is not None and low > high:
            self.add_error("min_price", f"Must not be above max_price ({high}).")
        after, before = cleaned.get("as_of_after"), cleaned.get("as_of_before")
        if after is not None and before is not None and after >= before:
            self.add_error("as_of_after", f"Must be before as_of_before ({before.isoformat()}), which is exclusive.")
        return cleaned


class QuoteFilter(FormCachedFilterSet):
    symbol = django_filters.CharFilter(method="filter_symbol", help_text="Ticker symbol, any case (BTC, 0xbtc).")
    coin = django_filters.CharFilter(field_name="coin__slug", help_text="Canonical coin slug (bitcoin).")
    source = django_filters.ChoiceFilter(
        choices=source_choices,
        error_messages={"invalid_choice": lazy(_unknown_source, str)()},
        help_text="Source the quote came from.",
    )
    as_of_after = MomentFilter(
        field_name="as_of", lookup_expr="gte", help_text="Quotes at or after this ISO 8601 time."
    )
    as_of_before = MomentFilter(
        field_name="as_of", lookup_expr="lt", help_text="Quotes strictly before this ISO 8601 time."
    )
    min_price = PriceFilter(field_name="price_usd", lookup_expr="gte", help_text="Price in USD at least.")
    max_price = PriceFilter(field_name="price_usd", lookup_expr="lte", help_text="Price in USD at most.")

    class Meta:
        model = Quote
        form = QuoteFilterForm
        fields = ["symbol", "coin", "source", "as_of_after", "as_of_before", "min_price", "max_price"]

    def filter_symbol(self, queryset, name, value):
        return queryset.filter(coin__symbol_key=symbol_key(value))
