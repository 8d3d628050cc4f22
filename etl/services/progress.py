"""How far a running source has got: written on its SourceRun with each committed batch, so /runs/{id}
and the admin show it wherever the run runs, and told to whoever watches in this process (run_etl's
progress display in a terminal).

The extract and load stages each make one call per batch; nothing else about them changes.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.utils import timezone

from etl.models import SourceRun
from etl.sources.spec import ReadSize


@dataclass(frozen=True, slots=True)
class Progress:
    source: str
    stage: str  # "extract" or "load"
    records: int  # staged so far (extract), committed so far (load)
    records_total: int | None  # known for the load: what the extract staged
    bytes_done: int | None = None  # a source of known size (a file), extract only
    bytes_total: int | None = None


_watcher: ContextVar[Callable[[Progress], None] | None] = ContextVar("etl_progress_watcher", default=None)


@contextmanager
def progress_watched(watcher: Callable[[Progress], None]) -> Iterator[None]:
    """Call `watcher` with each batch's progress made in this context (this thread, this process)."""
    token = _watcher.set(watcher)
    try:
        yield
    finally:
        _watcher.reset(token)


def source_extract_progress(*, source_run: SourceRun, records: int, size: ReadSize | None) -> None:
    """The extract staged `records` so far; called inside the batch's transaction, so it commits with it."""
    done, total = (size.done, size.total) if size is not None else (None, None)
    SourceRun.objects.filter(pk=source_run.pk).update(
        read=records, progress_bytes=done, progress_bytes_total=total, progress_at=timezone.now()
    )
    if watcher := _watcher.get():
        watcher(Progress(source_run.source, "extract", records, None, done, total))


def source_load_progress(*, source_run: SourceRun) -> None:
    """The load committed another batch; its counts are on the SourceRun already."""
    SourceRun.objects.filter(pk=source_run.pk).update(progress_at=timezone.now())
    if watcher := _watcher.get():
        counts = SourceRun.objects.get(pk=source_run.pk)
        watcher(Progress(source_run.source, "load", counts.loaded, counts.read))
