"""The legacy CSV streamed row by row, resumed where the last committed run stopped.

The checkpoint holds the byte offset reached and a SHA-256 of every byte before
it. If the bytes before the offset are unchanged, the file was only appended to
and reading resumes there; otherwise the file changed and is read from the start.
"""

import codecs
import csv
import dataclasses
import hashlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from etl.pipeline.drift import header_profile
from etl.pipeline.records import RawItem, item_key
from etl.sources.errors import SourceError
from etl.sources.legacy_csv.columns import ambiguous_headers, column_map, describe_wanted, missing_columns
from etl.sources.legacy_csv.payload import malformed_payload, row_payload
from etl.sources.legacy_csv.renames import (
    HeaderRename,
    HeaderUnresolved,
    KnownHeaders,
    applied_renames,
    header_renames,
)
from etl.sources.spec import Extraction, ReadSize, SchemaSeen

_DELIMITERS = ",;\t|"
_HASH_CHUNK = 1 << 20
# Rows read before the header is settled: what an unknown header's values are compared on.
SAMPLE_ROWS = 200
# The csv module's own field limit: a longer cell (a stray quote swallowing the file, say) is its row's fault,
# quarantined with its first characters, so memory stays bounded and the rest of the file loads.
CELL_MAX_CHARS = csv.field_size_limit()


class LegacyCsvReader:
    def __init__(self, *, path: Path, encoding: str = "utf-8", known: KnownHeaders | None = None):
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
            columns = column_map(tuple(header), applied_renames(renames))
            symbol_index = header.index(columns.get("symbol") or columns["name"])
            for first_line, size.done, cells, problem, text in itertools.chain(sample, rows):
                yield RawItem(
                    source_key=item_key(cells[symbol_index].strip()) if cells and symbol_index < len(cells) else "",
                    position=first_line,
                    payload=row_payload(cells, header) if problem is None else malformed_payload(problem, cells, text),
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


def _check_header(header: tuple[str, ...], path: Path, renames: list[HeaderRename]) -> None:
    duplicates = ambiguous_headers(header)
    if duplicates:
        raise SourceError(
            f"legacy CSV {path} has ambiguous duplicate columns: {'; '.join(duplicates)}. Rename or remove one of each"
        )
    missing = missing_columns(header, applied_renames(renames))
    if missing:
        wanted = "; ".join(describe_wanted(field) for field in missing)
        candidates = [c for c in renames if not c.applied and c.field in missing]
        found = f"Header found: {', '.join(header) or '(none)'}"
        if candidates:
            listed = ", ".join(f"{c.header!r} as {c.field} (confidence {c.confidence:.2f})" for c in candidates)
            found += (
                f". Candidates below DRIFT_AUTO_APPLY_CONFIDENCE: {listed}; "
                "confirm one under Header mappings in the admin to read it so"
            )
        raise HeaderUnresolved(f"legacy CSV {path} lacks required columns: {wanted}. {found}", candidates=candidates)


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
