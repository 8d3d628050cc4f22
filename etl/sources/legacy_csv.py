"""The legacy CSV: streamed row by row, resumed where the last committed run stopped.

The checkpoint holds the byte offset reached and a SHA-256 of every byte before
it. If the bytes before the offset are unchanged, the file was only appended to
and reading resumes there; otherwise the file changed and is read from the start.
"""

import codecs
import csv
import dataclasses
import hashlib
import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from pydantic import BaseModel, ConfigDict, ValidationError

from etl.models import HeaderMapping, SourceRun, SourceStatus
from etl.pipeline.drift import RENAME_REPORT_FLOOR, header_profile, rename_confidence
from etl.pipeline.keys import name_key, symbol_key
from etl.pipeline.records import QuoteRecord, RawItem, item_key
from etl.sources.errors import RecordRejected, SourceError
from etl.sources.parsing import fold_header
from etl.sources.payloads import describe_validation_error, load_json_object
from etl.sources.spec import Extraction, ReadSize, SchemaSeen, SourceSpec
from etl.sources.types import Amount, Change, Name, OptionalSymbol, Price, Rank, Timestamp

NAME = "legacy_csv"

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
_DELIMITERS = ",;\t|"
# Payload keys for a row whose field count does not match the header.
MALFORMED_KEY = "_malformed"
CELLS_KEY = "_cells"
_HASH_CHUNK = 1 << 20
# Rows read before the header is settled: what an unknown header's values are compared on.
SAMPLE_ROWS = 200
# The csv module's own field limit: a longer cell (a stray quote swallowing the file, say) is its row's fault,
# quarantined with its first characters, so memory stays bounded and the rest of the file loads.
CELL_MAX_CHARS = csv.field_size_limit()
_KEPT_OF_OVERSIZED = 1000


class CsvQuote(BaseModel):
    model_config = ConfigDict(frozen=True)

    symbol: OptionalSymbol = ""
    name: Name = ""
    as_of: Timestamp
    price_usd: Price
    market_cap_usd: Amount = None
    volume_24h_usd: Amount = None
    percent_change_24h: Change = None
    rank: Rank = None
    circulating_supply: Amount = None
    total_supply: Amount = None
    max_supply: Amount = None


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


def to_quote(payload: str, renames: tuple[tuple[str, str], ...] = ()) -> QuoteRecord:
    """One row; `renames` are the run's headers read as unified fields beside the alias table."""
    data = load_json_object(payload)
    if MALFORMED_KEY in data:
        raise RecordRejected(data[MALFORMED_KEY])
    columns = column_map(tuple(data), renames)
    try:
        row = CsvQuote.model_validate({field: data[header] for field, header in columns.items()})
    except ValidationError as exc:
        raise RecordRejected(describe_validation_error(exc, lambda f: columns.get(f, f))) from exc
    if not row.symbol and not row.name:
        raise RecordRejected(f"{columns.get('symbol') or columns['name']}: is required")
    # The file has no ids of its own: a row's is what names its coin, folded ("btc", "btc:bitcoin", ":bitcoin").
    folded = name_key(row.name)
    return QuoteRecord(
        source=NAME,
        source_id=f"{symbol_key(row.symbol)}:{folded}" if folded else symbol_key(row.symbol),
        symbol=row.symbol,
        name=row.name,
        as_of=row.as_of,
        price_usd=row.price_usd,
        market_cap_usd=row.market_cap_usd,
        volume_24h_usd=row.volume_24h_usd,
        percent_change_24h=row.percent_change_24h,
        rank=row.rank,
        circulating_supply=row.circulating_supply,
        total_supply=row.total_supply,
        max_supply=row.max_supply,
    )


class LegacyCsvReader:
    def __init__(self, *, path: Path, encoding: str = "utf-8", known: "KnownHeaders | None" = None):
        self.path = Path(path)
        self.encoding = encoding
        self.known = known or KnownHeaders()

    def extract(self, checkpoint: dict) -> Extraction:
        size, seen = ReadSize(), SchemaSeen()
        return Extraction(self._rows(checkpoint, size, seen), size=size, seen=seen)

    def _rows(self, checkpoint: dict, size: ReadSize, seen: SchemaSeen) -> Iterator[RawItem]:
        if not self.path.is_file():
            raise SourceError(f"legacy CSV not found: {self.path}")
        with self.path.open("rb") as stream:
            size.total = os.fstat(stream.fileno()).st_size
            hasher, resumed = _resume(stream, checkpoint, str(self.path))
            if resumed:
                offset, line, header, delimiter = resumed
            else:
                header_line = stream.readline()
                if not header_line.strip():
                    raise SourceError(f"legacy CSV {self.path} is empty: no header row")
                hasher.update(header_line)
                offset, line = len(header_line), 1
                text = _header_decode(header_line, self.encoding, self.path)
                delimiter = max(_DELIMITERS, key=text.count)
                header = next(csv.reader([text], delimiter=delimiter))

            # `complete_*` stop before an unterminated last line: a writer may still be appending to it,
            # so its row is read now but the next run reads it again, whole.
            position = {"offset": offset, "line": line, "complete_line": line, "bytes": offset}
            size.done = offset
            # What the lines of the row being read were, and why the first that would not decode did not.
            row_text: list[str] = []
            undecodable: list[str] = []

            def lines() -> Iterator[str]:
                for raw in stream:
                    position["line"] += 1
                    position["bytes"] += len(raw)
                    if raw.endswith(b"\n"):
                        hasher.update(raw)
                        position["offset"] += len(raw)
                        position["complete_line"] = position["line"]
                    try:
                        text = raw.decode(self.encoding)
                    except UnicodeDecodeError as exc:
                        # Shown as escapes (caf\xe9), never as U+FFFD: the row is quarantined, not mangled.
                        text = raw.decode(self.encoding, errors="backslashreplace")
                        undecodable.append(_decode_failure(exc, line=position["line"], encoding=self.encoding))
                    row_text.append(text)
                    yield text

            # Each row with its first line, the bytes read through it, its cells, what is wrong with it and
            # its text: rows are sampled ahead of being yielded, and progress counts what was yielded.
            def parsed() -> Iterator[tuple[int, int, list[str] | None, str | None, str]]:
                reader = csv.reader(lines(), delimiter=delimiter)
                start_line = line
                while True:
                    try:
                        cells = next(reader)
                        problem = undecodable[0] if undecodable else None
                    except StopIteration:
                        return
                    except csv.Error as exc:
                        # The reader goes on at the next line; this row alone is lost, kept here in part.
                        cells, problem = None, f"{exc} (CSV line {start_line + 1})"
                    first_line = start_line + 1
                    start_line = position["line"]
                    text = "".join(row_text)
                    row_text.clear()
                    undecodable.clear()
                    if problem is None and (not cells or not any(c.strip() for c in cells)):
                        continue
                    yield first_line, position["bytes"], cells, problem, text

            rows = parsed()
            sample = list(itertools.islice(rows, SAMPLE_ROWS))
            seen.schema = header_profile(header, (cells for _, _, cells, problem, _ in sample if problem is None))
            if resumed:
                # As the file was first read; a mapping confirmed since is no longer a warning.
                renames = [
                    dataclasses.replace(
                        rename, confirmed=rename.confirmed or self.known.confirmed.get(rename.header) == rename.field
                    )
                    for rename in (HeaderRename(**r) for r in checkpoint.get("renames", ()))
                ]
            else:
                renames = header_renames(header=tuple(header), profile=seen.schema, known=self.known)
            seen.renames = [r.as_dict() for r in renames]
            _check_header(tuple(header), self.path, renames)
            columns = column_map(tuple(header), _applied(renames))
            symbol_index = header.index(columns.get("symbol") or columns["name"])
            for first_line, size.done, cells, problem, text in itertools.chain(sample, rows):
                yield RawItem(
                    source_key=item_key(cells[symbol_index].strip()) if cells and symbol_index < len(cells) else "",
                    position=first_line,
                    payload=_payload(cells, header) if problem is None else _malformed(problem, cells, text),
                )
            return {
                "path": str(self.path),
                "offset": position["offset"],
                "line": position["complete_line"],
                "fingerprint": hasher.hexdigest(),
                "header": header,
                "delimiter": delimiter,
                "renames": seen.renames,
            }


def _header_decode(line: bytes, encoding: str, path: Path) -> str:
    try:
        # A UTF-8 file may start with a byte order mark (Excel writes one).
        return line.decode("utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding)
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"legacy CSV {path}: {_decode_failure(exc, line=1, encoding=encoding)}; set LEGACY_CSV_ENCODING "
            "to the file's encoding"
        ) from exc


def _decode_failure(exc: UnicodeDecodeError, *, line: int, encoding: str) -> str:
    bad = exc.object[exc.start : exc.end]
    return f"line {line} is not valid {encoding}: byte {bad[:4].hex(' ')} at column {exc.start + 1}"


def _check_header(header: tuple[str, ...], path: Path, renames: list["HeaderRename"]) -> None:
    duplicates = _ambiguous_headers(header)
    if duplicates:
        raise SourceError(
            f"legacy CSV {path} has ambiguous duplicate columns: {'; '.join(duplicates)}. Rename or remove one of each"
        )
    missing = missing_columns(header, _applied(renames))
    if missing:
        wanted = "; ".join(_wanted(field) for field in missing)
        candidates = [c for c in renames if not c.applied and c.field in missing]
        found = f"Header found: {', '.join(header) or '(none)'}"
        if candidates:
            listed = ", ".join(f"{c.header!r} as {c.field} (confidence {c.confidence:.2f})" for c in candidates)
            found += (
                f". Candidates below DRIFT_AUTO_APPLY_CONFIDENCE: {listed}; "
                "confirm one under Header mappings in the admin to read it so"
            )
        raise HeaderUnresolved(f"legacy CSV {path} lacks required columns: {wanted}. {found}", candidates=candidates)


def _applied(renames: list["HeaderRename"]) -> tuple[tuple[str, str], ...]:
    return tuple((r.header, r.field) for r in renames if r.applied)


def _ambiguous_headers(header: tuple[str, ...]) -> list[str]:
    """Headers that name one column twice: the same name, or two spellings of one alias ("Price", "price ").

    Either would let one column silently shadow the other. Blank headers (trailing delimiters) and two
    different aliases of one field ("Price", "Close": the alias listed first wins) are not ambiguous.
    """
    aliases = {alias for names in HEADER_ALIASES.values() for alias in names}
    seen: dict[str, list[int]] = {}
    for index, name in enumerate(header, start=1):
        if name.strip():
            folded = fold_header(name)
            seen.setdefault(folded if folded in aliases else name.strip(), []).append(index)
    return [
        f"{', '.join(repr(header[i - 1]) for i in places)} (columns {', '.join(map(str, places))})"
        for places in seen.values()
        if len(places) > 1
    ]


def _wanted(field: str) -> str:
    if field == "symbol":
        symbols, names = HEADER_ALIASES["symbol"][:3], HEADER_ALIASES["name"][:3]
        return f"a symbol or a name (one of: {', '.join(symbols)}, ... or {', '.join(names)}, ...)"
    return f"{field} (one of: {', '.join(HEADER_ALIASES[field][:4])}, ...)"


def _resume(stream: BinaryIO, checkpoint: dict, path: str) -> tuple["hashlib._Hash", tuple | None]:
    """Seek past what the checkpoint covers if the file still starts with exactly those bytes.

    Returns the running fingerprint of what was read, and (offset, line, header,
    delimiter) when resuming, or None when the file must be read from the start.
    """
    hasher = hashlib.sha256()
    offset = checkpoint.get("offset") if checkpoint.get("path") == path else None
    if not offset or not checkpoint.get("fingerprint") or not checkpoint.get("header"):
        return hasher, None
    remaining = offset
    while remaining:
        chunk = stream.read(min(_HASH_CHUNK, remaining))
        if not chunk:
            break
        hasher.update(chunk)
        remaining -= len(chunk)
    if remaining or hasher.hexdigest() != checkpoint["fingerprint"]:
        stream.seek(0)
        return hashlib.sha256(), None
    return hasher, (offset, checkpoint["line"], checkpoint["header"], checkpoint["delimiter"])


def _payload(cells: list[str], header: list[str]) -> str:
    if len(cells) != len(header):
        return _malformed(f"row has {len(cells)} fields, the header has {len(header)}", cells, "")
    return json.dumps(dict(zip(header, cells, strict=True)), ensure_ascii=False, separators=(",", ":"))


def _malformed(reason: str, cells: list[str] | None, text: str) -> str:
    if cells is None:  # too long to be cells: the row's first characters, and how many there were
        text = text.rstrip("\r\n")
        cells = [f"{text[:_KEPT_OF_OVERSIZED]}... ({len(text)} characters)"]
    return json.dumps({MALFORMED_KEY: reason, CELLS_KEY: cells}, ensure_ascii=False)


# --- Headers the alias table does not know ------------------------------------------------------------

# What each unified field's column holds when no earlier run shows it: numbers, text, or (None) either.
_NUMERIC_SHARE = {"symbol": 0.0, "name": 0.0, "as_of": None}


@dataclass(frozen=True)
class HeaderRename:
    """An unknown header read as a unified field: confirmed by an operator, or found with a confidence."""

    header: str
    field: str
    confidence: float
    confirmed: bool = False
    applied: bool = True

    def as_dict(self) -> dict:
        return {
            "header": self.header,
            "field": self.field,
            "confidence": self.confidence,
            "confirmed": self.confirmed,
            "applied": self.applied,
        }


class HeaderUnresolved(SourceError):
    """A required field no header carries; `candidates` are the renames found below the confidence to apply."""

    def __init__(self, message: str, *, candidates: list[HeaderRename]):
        super().__init__(message)
        self.candidates = candidates


@dataclass(frozen=True)
class KnownHeaders:
    """What a run knows of the file before reading it: confirmed mappings and the last good run's profile."""

    confirmed: dict[str, str] = dataclasses.field(default_factory=dict)
    baseline: dict | None = None
    # The renames the baseline run applied without a confirmation: applied again, with their warning.
    baseline_renames: list[dict] = dataclasses.field(default_factory=list)
    threshold: float = 0.8


def header_renames(*, header: tuple[str, ...], profile: dict, known: KnownHeaders) -> list[HeaderRename]:
    """Each header no alias and no earlier run knows, matched one to one to a field no header carries.

    Applied (`applied`) when confirmed or at least `known.threshold` sure; the rest are candidates.
    """
    kept = [HeaderRename(h, f, 1.0, confirmed=True) for h, f in known.confirmed.items() if h in header]
    kept += [
        HeaderRename(r["header"], r["field"], r["confidence"])
        for r in known.baseline_renames
        if r["applied"] and not r["confirmed"] and r["header"] in header and r["header"] not in known.confirmed
    ]
    columns = column_map(header, tuple((r.header, r.field) for r in kept))
    aliases = {alias for names in HEADER_ALIASES.values() for alias in names}
    before = known.baseline or {}
    carried = column_map(
        tuple(before.get("header", ())), tuple((r["header"], r["field"]) for r in known.baseline_renames)
    )
    new = [
        h
        for h in header
        if h not in columns.values() and fold_header(h) not in aliases and h not in before.get("fields", {})
    ]
    scored = sorted(
        (
            (
                rename_confidence(
                    old_names=_names_of(f, carried),
                    old=_baseline_of(f, carried, before),
                    new_name=h,
                    new=profile["fields"][h],
                ),
                h,
                f,
            )
            for h in new
            for f in HEADER_ALIASES
            if f not in columns
        ),
        reverse=True,
    )
    found, taken = [], set()
    for confidence, header_name, unified in scored:
        if header_name in taken or unified in taken:
            continue
        taken.update((header_name, unified))
        found.append(HeaderRename(header_name, unified, confidence, applied=confidence >= known.threshold))
    # Candidates worth naming: those alike enough, and for each required field still missing (the source fails
    # with them) its best unapplied header, whatever else that header was paired with.
    missing = missing_columns(header, _applied(kept + found))
    named = [r for r in found if r.applied or r.confidence >= RENAME_REPORT_FLOOR]
    used = {r.header for r in named if r.applied}
    for unified in missing:
        best = next(((c, h) for c, h, f in scored if f == unified and h not in used), None)
        if best is not None and not any(r.header == best[1] and r.field == unified for r in named):
            named.append(HeaderRename(best[1], unified, best[0], applied=False))
    return kept + named


def _names_of(unified: str, carried: dict[str, str]) -> list[str]:
    return [*HEADER_ALIASES[unified], *([carried[unified]] if unified in carried else [])]


def _baseline_of(unified: str, carried: dict[str, str], before: dict) -> dict | None:
    """The field's column as the last good run profiled it, or what such a column holds."""
    if unified in carried and carried[unified] in before.get("fields", {}):
        return before["fields"][carried[unified]]
    share = _NUMERIC_SHARE.get(unified, 1.0)
    if share is None:
        return None
    return {"type": "string", "null_rate": 0.0, "numeric": share, "min": None, "max": None}


def known_headers() -> KnownHeaders:
    """The confirmed mappings and the newest successful run's profile of a file with rows."""
    baseline, renames = (
        SourceRun.objects.filter(source=NAME, status=SourceStatus.SUCCEEDED, schema__items__gt=0)
        .order_by("-id")
        .values_list("schema", "field_renames")
        .first()
    ) or (None, [])
    confirmed = dict(
        HeaderMapping.objects.filter(source=NAME, confirmed_at__isnull=False).values_list("header", "field")
    )
    return KnownHeaders(
        confirmed=confirmed,
        baseline=baseline,
        baseline_renames=renames,
        threshold=settings.DRIFT_AUTO_APPLY_CONFIDENCE,
    )


def to_quote_renamed(renames: list[dict]) -> "partial[QuoteRecord]":
    """`to_quote` reading this run's applied renames too."""
    return partial(to_quote, renames=tuple((r["header"], r["field"]) for r in renames if r["applied"]))


def reader_from_settings() -> LegacyCsvReader:
    return LegacyCsvReader(path=settings.LEGACY_CSV_PATH, encoding=settings.LEGACY_CSV_ENCODING, known=known_headers())


SPEC = SourceSpec(
    name=NAME,
    label="Legacy CSV",
    snapshot=False,
    to_quote=to_quote,
    extractor=reader_from_settings,
    to_quote_renamed=to_quote_renamed,
)
