import time

from django.core.management.base import BaseCommand, CommandError

from etl.models import RunStatus, SourceRun, Trigger
from etl.services import (
    QueueUnavailable,
    etl_run_create,
    etl_run_fail,
    etl_run_trigger,
    run_normalize_and_upsert,
    source_extract,
)

EXIT_FAILED = 1
EXIT_PARTIAL = 2


class Command(BaseCommand):
    help = (
        "Run the ETL in the foreground: extract each source, normalize, upsert. "
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

    def handle(self, *args, sources: list[str] | None, full: bool, replay: int | None, queue: bool, **options):
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
        started = time.perf_counter()
        try:
            for name in run.sources:
                source_run = source_extract(run_id=run.pk, source=name)
                self.stdout.write(f"  {name}: extract {source_run.status}, {source_run.read} records")
            run = run_normalize_and_upsert(run_id=run.pk)
        except BaseException:
            etl_run_fail(run_id=run.pk, error="interrupted")
            raise
        for source_run in SourceRun.objects.filter(run=run):
            self.stdout.write(f"  {_summary(source_run)}")
        self.stdout.write(f"run {run.pk} {run.status} in {time.perf_counter() - started:.2f}s")
        if run.status == RunStatus.FAILED:
            raise CommandError(f"run {run.pk} failed: {run.error}", returncode=EXIT_FAILED)
        if run.status == RunStatus.PARTIAL:
            raise CommandError(f"run {run.pk} partial: {run.error}", returncode=EXIT_PARTIAL)

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


def _summary(source_run: SourceRun) -> str:
    line = (
        f"{source_run.source}: {source_run.status}; read {source_run.read}, inserted {source_run.inserted}, "
        f"updated {source_run.updated}, unchanged {source_run.unchanged}, rejected {source_run.rejected}; "
        f"extract {source_run.extract_seconds or 0:.2f}s, load {source_run.load_seconds or 0:.2f}s"
    )
    return f"{line}; error: {source_run.error}" if source_run.error else line
