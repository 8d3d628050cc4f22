"""A CSV row as it is staged: a JSON object of header -> cell, or the reason it could not be read and its cells."""

import json

import orjson

# Payload keys for a row that could not be read as the header's cells.
MALFORMED_KEY = "_malformed"
CELLS_KEY = "_cells"
_KEPT_OF_OVERSIZED = 1000


def row_payload(cells: list[str], header: list[str]) -> str:
    if len(cells) != len(header):
        return malformed_payload(f"row has {len(cells)} fields, the header has {len(header)}", cells, "")
    row = dict(zip(header, cells, strict=True))
    try:
        # The text json.dumps(row, ensure_ascii=False, separators=(",", ":")) writes, in a fifth of the time,
        # for every character but a lone surrogate, which orjson refuses (held by tests/unit/test_legacy_csv_fast.py).
        return orjson.dumps(row).decode()
    except orjson.JSONEncodeError:
        return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def malformed_payload(reason: str, cells: list[str] | None, text: str) -> str:
    if cells is None:  # too long to be cells: the row's first characters, and how many there were
        text = text.rstrip("\r\n")
        cells = [f"{text[:_KEPT_OF_OVERSIZED]}... ({len(text)} characters)"]
    return json.dumps({MALFORMED_KEY: reason, CELLS_KEY: cells}, ensure_ascii=False)
