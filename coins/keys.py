"""The folded keys coins are matched and filtered on: pure, so two spellings agree wherever they are compared.

A coin keeps the source's own spelling for display (`0xBTC`, `uTip`, `$$$`); these keys are what lookups use.
"""

import re
import unicodedata
from functools import lru_cache

# Column limits: a source's value longer than these is quarantined (etl.sources.types), never clipped.
SYMBOL_MAX_LENGTH = 40
NAME_MAX_LENGTH = 200
# Folding can lengthen text (NFKC spells out ligatures, casefold turns "ß" into "ss").
KEY_MAX_LENGTH = 400

_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=65536)
def symbol_key(symbol: str) -> str:
    """A symbol folded for matching: NFKC, casefold, whitespace collapsed ("0xBTC", "0XBTC" and "0xbtc " agree)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", symbol).casefold()).strip()


@lru_cache(maxsize=65536)
def name_key(name: str) -> str:
    """A name folded for matching: "Bitcoin Cash", "bitcoin-cash" and "BITCOIN  CASH" agree, and so do accents.

    Letters and digits only, of any script; a name of punctuation alone ("$$$") keeps its symbols folded, so it
    is not mistaken for no name at all.
    """
    folded = unicodedata.normalize("NFKC", name).casefold()
    decomposed = unicodedata.normalize("NFKD", folded)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in stripped if ch.isalnum()) or symbol_key(stripped).replace(" ", "")
