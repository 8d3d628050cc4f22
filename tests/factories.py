"""Small builders shared by the tests."""

from pathlib import Path

LEGACY_HEADER = "Ticker,Price,MarketCap,Date,Source"


def write_csv(path: Path, lines: list[str], *, header: str = LEGACY_HEADER, mode: str = "w") -> Path:
    with path.open(mode, encoding="utf-8", newline="") as out:
        if mode == "w":
            out.write(header + "\n")
        for line in lines:
            out.write(line + "\n")
    return path
