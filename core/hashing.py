"""Content hashes: one helper, so quotes, raw payloads and cache keys agree on what "same" means."""

import hashlib


def short_hash(text: str) -> str:
    """128 bits of BLAKE2b as hex: enough to tell contents apart, short enough to index."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
