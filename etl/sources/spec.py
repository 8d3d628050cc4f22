"""The small face every source module shows the pipeline: a pure spec, and the I/O side it builds.

The load stage needs only `to_quote` (pure: payload text in, unified record
out); the extract stage builds the source's client from settings and reads
its items and, for the APIs, the HTTP figures of that extraction.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from etl.pipeline.records import QuoteRecord, RawItem
from etl.sources.http import HttpStats


@dataclass
class ReadSize:
    """How far an extraction is through a source whose size is known (a file's bytes): for progress only."""

    done: int = 0
    total: int | None = None


@dataclass
class SchemaSeen:
    """What a source that reads its own schema (a file's header) found; the APIs' is profiled from their items."""

    schema: dict | None = None
    # Unknown headers read as unified fields, applied or only candidates (etl.sources.legacy_csv.renames.HeaderRename).
    renames: list[dict] = field(default_factory=list)


class Extraction:
    """A source's raw items; once iterated to the end, `checkpoint` holds the state to commit.

    `size`, where the source knows it, says how far the iteration has got; `seen`, what schema it read.
    """

    def __init__(
        self,
        items: Iterator[RawItem],
        *,
        stats: HttpStats | None = None,
        size: ReadSize | None = None,
        seen: SchemaSeen | None = None,
    ):
        self._items = items
        self.checkpoint: dict | None = None
        self.stats = stats
        self.size = size
        self.seen = seen or SchemaSeen()

    def __iter__(self) -> Iterator[RawItem]:
        self.checkpoint = yield from self._items


class Extractor(Protocol):
    def extract(self, checkpoint: dict) -> Extraction:
        """The items to stage, resuming from `checkpoint` where the source can."""
        ...


@dataclass(frozen=True, slots=True)
class SourceSpec:
    name: str
    label: str
    # Each fetch sends every item once, keyed by source_key (the APIs); a file of rows is not a snapshot.
    snapshot: bool
    # Validate one stored payload and map it to the unified record, or raise RecordRejected.
    to_quote: Callable[[str], QuoteRecord]
    # The I/O side, configured from settings; may raise SourceNotConfigured.
    extractor: Callable[[], Extractor]
    # `to_quote` reading a run's renamed fields (SourceRun.field_renames) too; None: a source never renames.
    to_quote_renamed: Callable[[list[dict]], Callable[[str], QuoteRecord]] | None = None
