"""A CSV row as it is staged: a JSON object of header -> cell, or the reason it could not be read and its cells."""

import json

# Payload keys for a row that could not be read as the header's cells.
MALFORMED_KEY = "_malformed"
CELLS_KEY = "_cells"
_KEPT_OF_OVERSIZED = 1000


def row_payload(cells: list[str], header: list[str]) -> str:
    if len(cells) != len(header):
        return malformed_payload(f"row has {len(cells)} fields, the header has {len(header)}", cells, "")
    return json.dumps(dict(zip(header, cells, strict=True)), ensure_ascii=False, separators=(",", ":"))


def malformed_payload(reason: str, cells: list[str] | None, text: str) -> str:
    if cells is None:  # too long to be cells: the row's first characters, and how many there were
        text = text.rstrip("\r\n")
        cells = [f"{text[:_KEPT_OF_OVERSIZED]}... ({len(text)} characters)"]
    return json.dumps({MALFORMED_KEY: reason, CELLS_KEY: cells}, ensure_ascii=False)
