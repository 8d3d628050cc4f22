"""Folded keys that identity matches on: pure, so two spellings of one name agree wherever they are compared."""

import unicodedata
from functools import lru_cache


@lru_cache(maxsize=65536)
def name_key(name: str) -> str:
    """A coin name folded for matching: "Bitcoin Cash", "bitcoin-cash" and "BITCOIN  CASH" agree."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in stripped.casefold() if ch.isalnum())


def symbol_key(symbol: str) -> str:
    return symbol.strip().upper()
