"""Money as a person reads it, in the admin's lists and charts."""

from decimal import Decimal

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
