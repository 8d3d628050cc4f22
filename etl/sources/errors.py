"""How a source, or one of its records, fails: each is recorded with its reason, never a crash."""


class SourceError(Exception):
    """The source as a whole failed (unreachable, wrong shape, missing columns); the message says why."""


class SourceNotConfigured(SourceError):
    """The source lacks a setting it needs (an API key, a file); reported, never a crash."""


class RecordRejected(ValueError):
    """One item failed validation; it is quarantined with this reason and the rest load."""
