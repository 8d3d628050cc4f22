import logging
import sys
import time
from contextlib import ExitStack, contextmanager

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from etl.models import Anomaly, RunStatus, SourceRun, SourceStatus, Trigger
from etl.pipeline.drift import drift_changes, drift_summary
from etl.services import (
    Progress,
    QueueUnavailable,
    etl_run_create,
    etl_run_fail,
    etl_run_trigger,
    progress_watched,
    run_normalize_and_upsert,
    source_extract,
)

EXIT_FAILED = 1
EXIT_PARTIAL = 2
# Without a terminal, a stage still running says how far it is this often (and once when it ends).
PLAIN_EVERY_SECONDS = 10
# What the progress display and the summary say already; shown again only with -v 2 or more.
_SERVICES_LOGGER = "etl.services"


class Command(BaseCommand):
    help = (
        "Run the ETL in the foreground: extract each source, normalize, upsert, showing each stage's progress. "
        "Exits 1 if the run failed, 2 if partial."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--source", action="append", dest="sources", metavar="NAME", help="only this source (repeatable)"
        )
        parser.add_argument("--full", action="store_true", help="ignore checkpoints and re-read every source whole")
        parser.add_argument("--queue", action="store_true", help="queue the run for the Celery worker and return")
        parser.add_argument(
            "--replay", type=int, metavar="RUN_ID", help="re-normalize the raw records RUN_ID kept, calling no source"
        )
        parser.add_argument(
            "--quiet", action="store_true", help="no live progress bars: a plain line as each stage ends"
        )

    def handle(
        self,
        *args,
        sources: list[str] | None,
        full: bool,
        replay: int | None,
        queue: bool,
        quiet: bool,
        verbosity: int,
        **options,
    ):
        if queue:
            self._queue(sources=sources, full=full)
            return
        try:
            run, created = etl_run_create(trigger=Trigger.CLI, sources=sources, full=full, replay_of=replay)
        except ValueError as exc:  # an unknown source, or a run with nothing to replay
            raise CommandError(str(exc)) from exc
        if not created:
            raise CommandError(f"run {run.pk} is already {run.status}; not starting another (single flight)")
        self.stdout.write(f"run {run.pk}: {', '.join(run.sources)}")
        live = not quiet and sys.stderr.isatty()
        display = LiveProgress(sys.stderr) if live else PlainProgress(self.stdout.write)
        started = time.perf_counter()
        try:
            with ExitStack() as stack:
                if verbosity < 2:
                    stack.enter_context(_logger_level(_SERVICES_LOGGER, logging.ERROR))
                if live:
                    stack.enter_context(logging_redirect_tqdm())
                stack.enter_context(progress_watched(display.update))
                for name in run.sources:
                    display.begin(name, "extract")
                    display.extract_done(source_extract(run_id=run.pk, source=name))
                display.loads_expect(
                    list(SourceRun.objects.filter(run=run, status=SourceStatus.EXTRACTED).values_list("source", "read"))
                )
                run = run_normalize_and_upsert(run_id=run.pk)
                display.finish()
        except BaseException:
            display.finish()
            etl_run_fail(run_id=run.pk, error="interrupted")
            raise
        parts = list(SourceRun.objects.filter(run=run))
        display.loads_done(parts)
        width = max(len(part.source) for part in parts)
        for part in parts:
            self.stdout.write(outcome_line(part, width=width))
        # The run's warnings, drift and flags once at the end: the services' own log lines are quiet here.
        for part in parts:
            if drift_changes(part.schema_drift):
                self.stdout.write(f"  {part.source}: schema drift: {drift_summary(part.schema_drift)}")
            for warning in part.warnings:
                self.stdout.write(f"  {part.source}: warning: {warning}")
        for flag in Anomaly.objects.filter(run=run).order_by("id"):
            figures = f"{flag.metric} {flag.value:g} (baseline {flag.baseline:g}, score {flag.score:g})"
            self.stdout.write(f"  {flag.source}: anomaly {flag.kind}: {figures} {flag.detail}".rstrip())
        ended = f"run {run.pk} {run.status} in {time.perf_counter() - started:.1f} s"
        if run.status == RunStatus.FAILED:
            raise CommandError(ended, returncode=EXIT_FAILED)
        if run.status == RunStatus.PARTIAL:
            raise CommandError(ended, returncode=EXIT_PARTIAL)
        self.stdout.write(ended)

    def _queue(self, *, sources: list[str] | None, full: bool) -> None:
        try:
            run, created = etl_run_trigger(trigger=Trigger.CLI, sources=sources, full=full)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        except QueueUnavailable as exc:
            raise CommandError(f"could not queue the run: {exc}; is the broker up?") from exc
        if created:
            self.stdout.write(f"queued run {run.pk}: {', '.join(run.sources)}")
        else:
            self.stdout.write(f"run {run.pk} is already {run.status}; not queueing another (single flight)")


def outcome_line(part: SourceRun, *, width: int) -> str:
    """What became of one source, once: its counts when it loaded, its reason when not."""
    status = part.get_status_display().lower()
    if part.status == SourceStatus.SUCCEEDED:
        told = (
            f"{part.inserted:,} inserted, {part.updated:,} updated, {part.unchanged:,} unchanged, "
            f"{part.rejected:,} rejected"
        )
    else:
        told = part.error
    return f"  {part.source:<{width}}  {status:<14}  {told}".rstrip()


class PlainProgress:
    """Lines for a log or a pipe: one as each stage ends, and one now and then while a long one runs."""

    def __init__(self, write):
        self.write = write
        self.said_at = time.monotonic()

    def begin(self, source: str, stage: str) -> None:
        self.said_at = time.monotonic()

    def update(self, progress: Progress) -> None:
        if time.monotonic() - self.said_at >= PLAIN_EVERY_SECONDS:
            self.said_at = time.monotonic()
            self.write(f"  {progress.source} {progress.stage}: {_so_far(progress)} so far")

    def extract_done(self, part: SourceRun) -> None:
        if part.status == SourceStatus.EXTRACTED:
            self.write(_stage_line(part.source, "extract", part.read, part.extract_seconds))
        else:
            self.write(f"  {part.source} extract: {part.get_status_display().lower()}")

    def loads_expect(self, loads: list[tuple[str, int]]) -> None:
        self.said_at = time.monotonic()

    def loads_done(self, parts: list[SourceRun]) -> None:
        for part in parts:
            if part.load_seconds is not None:
                self.write(_stage_line(part.source, "load", part.loaded, part.load_seconds))

    def finish(self) -> None:
        pass


def _stage_line(source: str, stage: str, records: int, seconds: float | None) -> str:
    seconds = seconds or 0
    rate = f", {records / seconds:,.0f} records/s" if seconds > 0 and records else ""
    return f"  {source} {stage}: {records:,} records in {seconds:.1f} s{rate}"


def _so_far(progress: Progress) -> str:
    if progress.records_total:
        return f"{progress.records:,} of {progress.records_total:,} records"
    if progress.bytes_total:
        return f"{progress.records:,} records, {100 * progress.bytes_done / progress.bytes_total:.0f}% of the file"
    return f"{progress.records:,} records"


class LiveProgress:
    """A bar per source and stage on a terminal (tqdm): records, rate, and the ETA where the size is known."""

    def __init__(self, stream):
        self.stream = stream
        self.stage: tuple[str, str] | None = None
        self.bar: tqdm | None = None
        self.loads: list[tuple[str, int]] = []

    def begin(self, source: str, stage: str, *, total: int | None = None) -> None:
        self.finish()
        self.stage = (source, stage)
        self.bar = tqdm(desc=f"{source} {stage}", total=total, unit=" records", file=self.stream, dynamic_ncols=True)

    def update(self, progress: Progress) -> None:
        if self.stage != (progress.source, progress.stage):
            self.begin(progress.source, progress.stage)
        bar = self.bar
        if progress.bytes_total is not None:
            # A file: the bar counts its bytes, so the rate and ETA are the file's; the records go beside.
            bar.total, bar.unit, bar.unit_scale, bar.unit_divisor = progress.bytes_total, "B", True, 1024
            bar.set_postfix_str(f"{progress.records:,} records", refresh=False)
            bar.update(progress.bytes_done - bar.n)
        else:
            bar.total = progress.records_total
            bar.update(progress.records - bar.n)
        if progress.stage == "load" and progress.records >= (progress.records_total or 0):
            self._next_load()

    def extract_done(self, part: SourceRun) -> None:
        if part.status in (SourceStatus.EXTRACTED, SourceStatus.SUCCEEDED):
            self.bar.update((self.bar.total if self.bar.total is not None else part.read) - self.bar.n)
            self.finish()
        else:
            self.bar.leave = False
            self.finish()
            tqdm.write(f"{part.source} extract: {part.get_status_display().lower()}", file=self.stream)

    def loads_expect(self, loads: list[tuple[str, int]]) -> None:
        """The loads to come, in order: each bar starts as the one before ends, so its rate is its own."""
        self.loads = list(loads)
        self._next_load()

    def loads_done(self, parts: list[SourceRun]) -> None:
        self.finish()

    def _next_load(self) -> None:
        self.finish()
        if self.loads:
            source, read = self.loads.pop(0)
            self.begin(source, "load", total=read)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar = self.stage = None


@contextmanager
def _logger_level(name: str, level: int):
    logger = logging.getLogger(name)
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)
