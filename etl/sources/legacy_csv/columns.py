"""The legacy CSV's headers: the alias table of what each unified field may be called, and the column map."""

from functools import lru_cache

from etl.sources.parsing import fold_header

# Unified field -> accepted headers, compared after fold_header (case, spaces,
# underscores and punctuation ignored). When a file has several headers for one
# field, the alias listed first wins and the others stay in the raw payload.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "symbol": ("symbol", "ticker", "tickersymbol", "coinsymbol", "assetsymbol", "sym"),
    "name": ("name", "coinname", "assetname", "coin", "asset", "currency", "cryptocurrency"),
    "price_usd": (
        "priceusd",
        "price",
        "usdprice",
        "priceinusd",
        "close",
        "closeusd",
        "closeprice",
        "lastprice",
        "last",
        "currentprice",
        "rateusd",
    ),
    "market_cap_usd": ("marketcapusd", "marketcap", "mcap", "marketcapitalization", "marketcapitalisation"),
    "volume_24h_usd": (
        "volume24husd",
        "volume24h",
        "24hvolume",
        "24hvolumeusd",
        "volumeusd24hr",
        "volume24hr",
        "totalvolume",
        "volumeusd",
        "volume",
        "vol24h",
    ),
    "percent_change_24h": (
        "percentchange24h",
        "change24h",
        "pctchange24h",
        "24hchange",
        "change24hpercent",
        "changepercent24hr",
        "24h",
    ),
    "rank": ("rank", "marketcaprank", "cmcrank"),
    "circulating_supply": ("circulatingsupply", "circulating", "supply"),
    "total_supply": ("totalsupply",),
    "max_supply": ("maxsupply",),
    "as_of": (
        "asof",
        "timestamp",
        "datetime",
        "date",
        "time",
        "lastupdated",
        "snappedat",
        "updatedat",
        "ts",
        "timeclose",
    ),
}
REQUIRED_FIELDS = ("price_usd", "as_of")
# A coin is named by its symbol, its name or both (a CSV of `Currency,Date,Close` has names only).
NAMING_FIELDS = ("symbol", "name")
# Every alias, folded: a header that is one names a known field.
ALIASES = frozenset(alias for names in HEADER_ALIASES.values() for alias in names)


@lru_cache(maxsize=64)
def column_map(headers: tuple[str, ...], renames: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    """Unified field -> the file's header that carries it; `renames` (header, field) fill what aliases do not."""
    folded = {fold_header(h): h for h in reversed(headers)}  # first of equal folds wins
    columns = {}
    for field, aliases in HEADER_ALIASES.items():
        for alias in aliases:
            if alias in folded:
                columns[field] = folded[alias]
                break
    for header, field in renames:
        if header in headers and field not in columns:
            columns[field] = header
    return columns


def missing_columns(headers: tuple[str, ...], renames: tuple[tuple[str, str], ...] = ()) -> list[str]:
    columns = column_map(headers, renames)
    missing = [f for f in REQUIRED_FIELDS if f not in columns]
    if not any(f in columns for f in NAMING_FIELDS):
        missing.insert(0, "symbol")
    return missing


def ambiguous_headers(header: tuple[str, ...]) -> list[str]:
    """Headers that name one column twice: the same name, or two spellings of one alias ("Price", "price ").

    Either would let one column silently shadow the other. Blank headers (trailing delimiters) and two
    different aliases of one field ("Price", "Close": the alias listed first wins) are not ambiguous.
    """
    seen: dict[str, list[int]] = {}
    for index, name in enumerate(header, start=1):
        if name.strip():
            folded = fold_header(name)
            seen.setdefault(folded if folded in ALIASES else name.strip(), []).append(index)
    return [
        f"{', '.join(repr(header[i - 1]) for i in places)} (columns {', '.join(map(str, places))})"
        for places in seen.values()
        if len(places) > 1
    ]


def describe_wanted(field: str) -> str:
    if field == "symbol":
        symbols, names = HEADER_ALIASES["symbol"][:3], HEADER_ALIASES["name"][:3]
        return f"a symbol or a name (one of: {', '.join(symbols)}, ... or {', '.join(names)}, ...)"
    return f"{field} (one of: {', '.join(HEADER_ALIASES[field][:4])}, ...)"
