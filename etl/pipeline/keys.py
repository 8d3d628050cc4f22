"""Folded keys that identity matches on: pure, so two spellings of one name agree wherever they are compared."""

import re
import unicodedata
from functools import lru_cache

from coins.keys import name_key, symbol_key

__all__ = ["name_key", "name_tokens", "slug_key", "symbol_key"]

# Words that say what kind of asset a name is, not which: "Chainlink" and "ChainLink Token", "X Finance" and
# "x.finance" are one name. Words that tell assets apart ("cash", "classic", "gold", "wrapped") are not here.
GENERIC_WORDS = frozenset(
    {
        "token",
        "tokens",
        "coin",
        "coins",
        "network",
        "protocol",
        "finance",
        "the",
        "project",
        "platform",
        "official",
        "crypto",
        "currency",
        "cryptocurrency",
        "blockchain",
        "chain",
        "new",
    }
)
_WORD = re.compile(r"[^\W_]+")


@lru_cache(maxsize=65536)
def name_tokens(name: str) -> str:
    """A name's distinctive words, folded and joined: what name similarity compares ("" when it has none)."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name).casefold())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    words = _WORD.findall(plain)
    distinctive = [w for w in words if w not in GENERIC_WORDS]
    return " ".join(distinctive or words)


def slug_key(slug: str) -> str:
    """An id slug ("bitcoin-cash") folded like a name, so it compares with names and other sources' slugs."""
    return name_key(slug) if slug else ""
